// The explorer in a real browser (issue 12, part 4; spec/explorer.md "Browser tests"): Debian's chromium driven by
// playwright-core against the explorer `npm start` runs, over one devnet with a proxy and a worker (so a WorkerChannel
// exists), proposal 0 executed (history) and proposal 1 open, on which the second voter votes while a page is open.
// Every value a page shows is compared with what this test reads from the chain through the wrappers, never with the
// explorer's own API. One browser and one devnet serve every test; screenshots go to temp/artifacts/explorer/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Address, OpenedContract } from '@ton/core';
import { keyPairFromSecretKey } from '@ton/crypto';
import { Browser, BrowserContext, chromium, Locator, Page } from 'playwright-core';
import { startDevnet, RunningDevnet, DEVNET_MODEL } from '../../agents/devnet/network';
import { ChainWallet, TonChain } from '../../agents/core/chain/chain';
import { loadChainConfig } from '../../agents/core/chain/config';
import { FeeSimple, RootWrapper } from '../../wrappers/Root';
import { GovernanceWrapper } from '../../wrappers/Governance';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { modelId } from '../../wrappers/payloads';

jest.setTimeout(180_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'temp', 'artifacts', 'explorer');
/** Proposal 1 registers a model whose name is markup: pages must show it as text (nothing runs, nothing loads). */
const HOSTILE_NAME = 'evil/<img src=x onerror=alert(1)><script>alert(2)</script>';
const PHONE = { width: 360, height: 740 };

const raw = (a: Address | string) => (typeof a === 'string' ? Address.parse(a) : a).toRawString();
const hex = (n: bigint) => n.toString(16).padStart(64, '0');

let dir: string;
let run: RunningDevnet;
let chain: TonChain;
let url: string;
let browser: Browser;
let desktop: BrowserContext;
let phone: BrowserContext;
let root: OpenedContract<RootWrapper>;
let gov: OpenedContract<GovernanceWrapper>;
let proxy: OpenedContract<ProxyWrapper>;
let voters: ChainWallet[];
let workerChannel: Address;
/** Console errors, page errors, dialogs, failed requests and error responses seen by any page, but the expected ones. */
const problems: string[] = [];
/** Paths whose error status is the point of the test (the bad-address page). */
const expectedErrors = new Set<string>();

function watch(context: BrowserContext): void {
    // Pages are rendered on the server: an element that is not there soon is not coming.
    context.setDefaultTimeout(20_000);
    context.on('console', (m) => {
        if (m.type() !== 'error') return;
        const at = m.location().url;
        if (/status of 400/.test(m.text()) && at.startsWith(url) && expectedErrors.has(new URL(at).pathname)) return;
        problems.push(`console error at ${at}: ${m.text()}`);
    });
    context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
    context.on('dialog', (d) => {
        problems.push(`dialog opened: ${d.message()}`);
        void d.dismiss();
    });
    context.on('requestfailed', (r) => {
        // Leaving a page aborts its live-feed stream; that is the browser closing it, not a failure.
        if (r.failure()?.errorText === 'net::ERR_ABORTED' && new URL(r.url()).pathname === '/api/feed/stream') return;
        problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    context.on('response', (r) => {
        if (r.status() >= 400 && !expectedErrors.has(new URL(r.url()).pathname)) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });
}

async function open(context: BrowserContext, path: string): Promise<Page> {
    const page = await context.newPage();
    const res = await page.goto(url + path);
    expect([path, res?.status()]).toEqual([path, expectedErrors.has(path.split('?')[0]) ? 400 : 200]);
    return page;
}

async function shoot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The exact value of a record's field: its value element's `data-value` (spec/explorer.md "Page structure"). */
async function field(scope: Locator, name: string): Promise<string | null> {
    const f = scope.locator(`[data-field="${name}"]`).first();
    if ((await f.count()) === 0) throw new Error(`no [data-field="${name}"] in the section; it has ${await scope.evaluate((e) => [...e.querySelectorAll('[data-field]')].map((x) => x.getAttribute('data-field')).join(', '))}`);
    return (await f.getAttribute('data-value')) ?? f.locator('[data-value]').first().getAttribute('data-value');
}

/** Reloads until `selector` is there: facts from transaction history are indexed as they land. */
async function reloadUntil(page: Page, selector: string, timeoutMs = 20_000): Promise<Locator> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const l = page.locator(selector);
        if ((await l.count()) > 0) return l;
        if (Date.now() > end) throw new Error(`${selector} not on ${page.url()} after ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 500));
        await page.reload();
    }
}

beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
        throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH to a Chromium binary`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'cocoon-explorer-'));
    run = await startDevnet({ dir, demo: false, tokenDelayMs: 1, io: { stdout: () => undefined, stderr: () => undefined } });
    url = run.explorerUrl;
    chain = new TonChain({ config: loadChainConfig({ endpoint: run.chainUrl, rps: 1000, sendPollMs: 100 }, {}) });
    const wallet = (role: string) => chain.wallet(keyPairFromSecretKey(Buffer.from(readFileSync(join(dir, 'keys', `${role}.wallet`), 'utf8').trim(), 'hex')));
    voters = ['governance', 'governance-2', 'governance-3'].map(wallet);
    root = chain.open(RootWrapper.open(Address.parse(run.state.root)));
    gov = chain.open(GovernanceWrapper.open(Address.parse(run.state.governance)));
    proxy = chain.open(ProxyWrapper.open(Address.parse(run.state.proxy)));
    workerChannel = await proxy.getWorkerChannelAddress(wallet('worker-wallet').address);
    // Voter 1 proposes a second model: proposal 1 stays open with one of three votes.
    await gov.sendPropose(voters[0].sender(), [{ to: root.address, value: FeeSimple, body: RootWrapper.registerModelBody({ ...DEVNET_MODEL, name: HOSTILE_NAME }) }]);
    expect((await gov.getProposal(1n))?.yes).toBe(1n);

    browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    });
    desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    for (const c of [desktop, phone]) watch(c);
    process.stdout.write(`explorer screenshots: ${ARTIFACTS}\n`);
});

afterAll(async () => {
    await browser?.close();
    await run?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
    // No console errors, script errors, dialogs or failed requests on any page a test opened.
    expect(problems.splice(0)).toEqual([]);
});

describe('the explorer in Chromium, over the devnet', () => {
    it('the overview renders Root: version, parameters, child code and counts as the getters return them', async () => {
        const page = await open(desktop, '/');
        const [params, codes, counts] = await Promise.all([root.getParams(), root.getChildCode(), root.getCounts()]);
        expect(await page.locator('#network').getAttribute('data-value')).toBe('devnet');
        expect(await field(page.locator('#root'), 'version')).toBe(String(await root.getVersion()));
        expect(await field(page.locator('#root'), 'governance')).toBe(raw(gov.address));
        expect(await field(page.locator('#root'), 'treasury')).toBe(raw(await root.getTreasury()));
        for (const k of ['commissionBps', 'reporterShareBps', 'minProxyStake', 'minWorkerStake', 'minClientDeposit', 'creditWindow', 'proxyCloseDelay', 'clientCloseDelay', 'workerUnbondDelay', 'slashChallengePeriod'] as const) {
            expect([k, await field(page.locator('#params'), k)]).toEqual([k, String(params[k])]);
        }
        const child = page.locator('#child-code');
        expect(await field(child, 'codeVersion')).toBe(String(codes.codeVersion));
        expect(await field(child, 'proxyCodeHash')).toBe(codes.proxyCode.hash().toString('hex'));
        expect(await field(child, 'clientCodeHash')).toBe(codes.clientCode.hash().toString('hex'));
        expect(await field(child, 'workerCodeHash')).toBe(codes.workerCode.hash().toString('hex'));
        for (const k of ['proxyImages', 'workerImages', 'keyImages', 'models', 'proxies'] as const) {
            expect([k, await field(page.locator('#counts'), k)]).toEqual([k, String(counts[k])]);
        }
        expect(await page.locator('#feed li[data-event-id]').count()).toBeGreaterThan(0);
        expect(await page.locator('#root button.copy').first().isVisible()).toBe(true);
        await shoot(page, 'overview-desktop');
        await page.close();
    });

    it('models, images and proxies list what Root lists, and a model links to the proposal that registered it', async () => {
        const page = await open(desktop, '/models');
        const models = await root.getAllModels();
        expect(await page.locator('#models tr[data-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')).sort())).toEqual([...models.keys()].map(hex).sort());
        const model = DEVNET_MODEL;
        const row = page.locator(`#models tr[data-id="${hex(modelId(model.name))}"]`);
        expect(await field(row, 'name')).toBe(model.name);
        expect(await field(row, 'weightsHash')).toBe(hex(model.weightsHash));
        expect(await field(row, 'contextLength')).toBe(String(model.contextLength));
        expect(await field(row, 'requireGpu')).toBe(String((await root.getModelByName(model.name))!.requireGpu));
        for (const [k, v] of [['prompt', model.pricePrompt], ['cached', model.priceCached], ['completion', model.priceCompletion], ['reasoning', model.priceReasoning]] as const) {
            expect([k, await field(row, `prices.${k}`)]).toEqual([k, String(v)]);
        }
        await (await reloadUntil(page, `#models tr[data-id="${hex(modelId(model.name))}"] a[href="/governance/proposals/0"]`)).first().click();
        await page.waitForURL(`${url}/governance/proposals/0`);
        expect(await page.locator('#proposal').getAttribute('data-status') ?? (await field(page.locator('#proposal'), 'status'))).toBe('executed');

        await page.goto(`${url}/images`);
        for (const kind of ['proxy', 'worker', 'keys'] as const) {
            expect(await page.locator(`#images table[data-kind="${kind}"]`).count()).toBe(1);
            const shown = await page.locator(`#images table[data-kind="${kind}"] tr[data-hash]`).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-hash')).sort());
            expect([kind, shown]).toEqual([kind, (await root.getAllImages(kind)).map(hex).sort()]);
        }

        await page.goto(`${url}/proxies`);
        const proxies = await root.getAllProxies();
        expect(await page.locator('#proxies tr[data-address]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-address')).sort())).toEqual([...proxies.keys()].map(raw).sort());
        await page.close();
    });

    it('a proxy page shows its state and its worker channel, which links back to the proxy', async () => {
        const page = await open(desktop, `/proxies/${raw(proxy.address)}`);
        const state = await proxy.getProxyState();
        const p = page.locator('#proxy');
        expect(await field(p, 'owner')).toBe(raw(state.owner));
        expect(await field(p, 'enclaveKey')).toBe(hex(state.enclaveKey));
        expect(await field(p, 'stake')).toBe(String(state.stake));
        expect(await field(p, 'commission')).toBe(String(state.commission));
        expect(await field(p, 'pool')).toBe(String(state.pool));
        expect(await field(p, 'registered')).toBe(String(state.registered));
        expect(await field(p, 'banned')).toBe(String(state.banned));
        expect([state.state, await field(p, 'state')]).toEqual([0n, 'active']);

        const row = (await reloadUntil(page, `#workers tr[data-address="${raw(workerChannel)}"]`)).first();
        const channel = await chain.open(WorkerChannelWrapper.open(workerChannel)).getChannelState();
        expect(await field(row, 'stake')).toBe(String(channel.stake));
        expect(await field(row, 'paid')).toBe(String(channel.paid));
        expect(await field(row, 'worker')).toBe(raw(channel.worker));
        expect([channel.state, await field(row, 'state')]).toEqual([1n, 'active']); // WorkerActive
        await shoot(page, 'proxy-desktop');

        await row.locator(`a[href="/address/${raw(workerChannel)}"]`).first().click();
        await page.waitForURL(`${url}/address/${raw(workerChannel)}`);
        expect(await field(page.locator('#address'), 'kind')).toBe('worker-channel');
        expect(await field(page.locator('#channel'), 'stake')).toBe(String(channel.stake));
        await page.locator(`#channel a[href="/proxies/${raw(proxy.address)}"]`).first().click();
        await page.waitForURL(`${url}/proxies/${raw(proxy.address)}`);
        await page.close();
    });

    it('governance shows the voters, the parameters and both proposals; the open one has its vote links with QR codes', async () => {
        const page = await open(desktop, '/governance');
        const [params, weights] = await Promise.all([gov.getGovParams(), gov.getVoters()]);
        for (const k of ['quorumBps', 'majorityBps', 'votingPeriod', 'timelock', 'executionWindow'] as const) {
            expect([k, await field(page.locator('#governance-params'), k)]).toEqual([k, String(params[k])]);
        }
        const shown = await page.locator('#voters tr[data-address]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-address')).sort());
        expect(shown).toEqual(weights.keys().map(raw).sort());
        for (const v of weights.keys()) expect(await field(page.locator(`#voters tr[data-address="${raw(v)}"]`), 'weight')).toBe(String(weights.get(v)));
        await expect(page.locator('#proposals tr[data-proposal-id="1"]').getAttribute('data-status')).resolves.toBe('open');
        await expect(page.locator('#proposals tr[data-proposal-id="0"]').getAttribute('data-status')).resolves.toBe('executed');
        await shoot(page, 'governance-desktop');

        await page.locator('#proposals tr[data-proposal-id="1"] a[href="/governance/proposals/1"]').first().click();
        await page.waitForURL(`${url}/governance/proposals/1`);
        // The markup in the model's name is text in the action's words: no element, no request for "x", no dialog.
        const action = page.locator('#actions li[data-kind="RegisterModel"]');
        await expect(action.textContent()).resolves.toContain(HOSTILE_NAME);
        expect(await page.locator('#actions img, #actions script').count()).toBe(0);
        const vote = page.locator(`#votes tr[data-address="${raw(voters[0].address)}"]`);
        await expect(vote.getAttribute('data-support')).resolves.toBe('yes');
        for (const support of ['yes', 'no']) {
            const link = page.locator(`#vote-links a[data-vote="${support}"]`);
            expect(await link.getAttribute('href')).toMatch(new RegExp(`^ton://transfer/[A-Za-z0-9_-]{48}\\?amount=${FeeSimple}&bin=[A-Za-z0-9_-]+=*$`));
        }
        const qrs = page.locator('#vote-links img.qr');
        expect(await qrs.count()).toBe(2);
        // Each QR code is an image the browser decoded (a data: SVG), not a broken one.
        const decoded = await qrs.evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0 && i.getAttribute('src')!.startsWith('data:image/svg+xml;base64,')));
        expect(decoded).toEqual([true, true]);
        expect(await page.locator('#vote-links pre.blueprint').first().textContent()).toMatch(/npx blueprint run vote/);
        await shoot(page, 'proposal-desktop');

        // The proposer's address leads to what lives there: a wallet, none of ours.
        await vote.locator(`a[href="/address/${raw(voters[0].address)}"]`).first().click();
        await page.waitForURL(`${url}/address/${raw(voters[0].address)}`);
        expect(await field(page.locator('#address'), 'kind')).toBe('other');
        await page.close();
    });

    it('the live feed shows the second vote without a reload, and the proposal then passes with an execute link', async () => {
        const page = await open(desktop, '/feed');
        // The page's script says when its EventSource is open; from then on nothing but the stream adds events.
        await page.locator('#feed-status', { hasText: /^Live:/ }).waitFor();
        const before = new Set(await page.locator('#feed li[data-event-id]').evaluateAll((li) => li.map((l) => l.getAttribute('data-event-id'))));
        await page.evaluate('document.body.dataset.sameDocument = "yes"');
        await gov.sendVote(voters[1].sender(), 1n, true);
        const proposal = await gov.getProposal(1n);
        expect([proposal?.yes, proposal?.votes.get(voters[1].address)]).toEqual([2n, true]);

        // Waiting for the element is the test: no reload, so only the EventSource can have put it there.
        const live = page.locator(`#feed li[data-event-id][data-kind="vote"]${[...before].map((id) => `:not([data-event-id="${id}"])`).join('')}`);
        await live.first().waitFor({ timeout: 30_000 });
        const fresh = await live.evaluateAll((li) => li.map((l) => l.getAttribute('data-event-id')));
        // The event is that vote: Governance's latest transaction, linking to the proposal.
        const [tx] = await chain.getTransactions(gov.address, { limit: 1 });
        expect(fresh).toEqual([`${tx.lt}:${tx.hash().toString('hex')}`]);
        expect(await live.filter({ has: page.locator('a[href="/governance/proposals/1"]') }).count()).toBeGreaterThan(0);
        expect(await page.evaluate('document.body.dataset.sameDocument')).toBe('yes');
        await shoot(page, 'feed-desktop');
        await page.close();

        const passed = await open(desktop, '/governance/proposals/1');
        expect(await passed.locator('#vote-links').count()).toBe(0);
        // Executable once the chain's clock reaches the vote's block (timelock 0): the page follows chain time.
        expect(await (await reloadUntil(passed, '#execute-link a[data-execute]')).getAttribute('href')).toMatch(/^ton:\/\/transfer\//);
        expect(await passed.locator('#execute-link img.qr').count()).toBe(1);
        await expect(passed.locator(`#votes tr[data-address="${raw(voters[1].address)}"]`).getAttribute('data-support')).resolves.toBe('yes');
        await passed.close();
    });

    it('a bad address, typed or in the URL, shows a clear error and nothing else', async () => {
        expectedErrors.add('/address/not-an-address').add('/address');
        const page = await open(desktop, '/address/not-an-address');
        const error = page.locator('#error[role="alert"]');
        await expect(field(error, 'code')).resolves.toBe('BAD_ADDRESS');
        expect(await error.textContent()).toMatch(/address/i);
        await page.fill('#q', 'EQ-nope');
        await Promise.all([page.waitForURL(/\/address\?q=EQ-nope$/), page.press('#q', 'Enter')]);
        await expect(field(page.locator('#error'), 'code')).resolves.toBe('BAD_ADDRESS');
        await page.close();

        // The watcher that fails every test on an error does see one: an unexpected 404 is reported.
        const stray = await desktop.newPage();
        await stray.goto(`${url}/no-such-page`);
        await stray.close();
        expect(problems.splice(0)).toContainEqual(`HTTP 404 for ${url}/no-such-page`);
    });

    it('keyboard only: Tab reaches the look-up form, Enter submits it', async () => {
        const page = await open(desktop, '/');
        let tabs = 0;
        while ((await page.evaluate('document.activeElement && document.activeElement.id')) !== 'q') {
            expect(++tabs).toBeLessThan(40);
            await page.keyboard.press('Tab');
        }
        await page.keyboard.type(Address.parse(run.state.proxy).toString());
        await Promise.all([page.waitForURL(`${url}/address/${raw(proxy.address)}`), page.keyboard.press('Enter')]);
        expect(await field(page.locator('#address'), 'kind')).toBe('proxy');
        await page.close();
    });

    it('at phone width (360 x 740) no page scrolls sideways and the navigation is on screen', async () => {
        const pages: [string, string][] = [
            ['/', 'overview'],
            [`/proxies/${raw(proxy.address)}`, 'proxy'],
            ['/governance', 'governance'],
            ['/governance/proposals/1', 'proposal'],
            ['/feed', 'feed'],
            ['/models', 'models'],
        ];
        for (const [path, name] of pages) {
            const page = await open(phone, path);
            const widths = (await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')) as number[];
            expect([path, widths[0] <= widths[1]]).toEqual([path, true]);
            for (const link of await page.locator('nav[aria-label="Main"] a').all()) {
                const box = await link.boundingBox();
                expect([path, await link.textContent(), box !== null && box.x >= 0 && box.x + box.width <= PHONE.width]).toEqual([path, await link.textContent(), true]);
            }
            if (name !== 'models') await shoot(page, `${name}-phone`);
            await page.close();
        }
        const page = await open(phone, '/');
        await page.locator('nav[aria-label="Main"] a', { hasText: 'Governance' }).click();
        await page.waitForURL(`${url}/governance`);
        await page.close();
    });

    it('with JavaScript off the static parts are all there: values, links, QR codes, the feed as rendered', async () => {
        const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
        watch(context);
        try {
            const page = await open(context, '/');
            expect(await field(page.locator('#params'), 'minProxyStake')).toBe(String((await root.getParams()).minProxyStake));
            expect(await page.locator('#feed li[data-event-id]').count()).toBeGreaterThan(0);
            // Only the script makes the feed live and the copy buttons work: without it they say so or stay hidden.
            expect(await page.locator('#feed-status').textContent()).not.toMatch(/^Live:/);
            expect(await page.locator('button.copy').first().isHidden()).toBe(true);
            await page.goto(`${url}/governance/proposals/1`);
            expect(await page.locator('#execute-link img.qr').count()).toBe(1);
            expect(await page.locator('#votes tr[data-address]').count()).toBe(2);
            await page.goto(`${url}/proxies/${raw(proxy.address)}`);
            expect(await page.locator(`#workers tr[data-address="${raw(workerChannel)}"]`).count()).toBe(1);
            await page.close();
        } finally {
            await context.close();
        }
    });
});
