// loadChainConfig: defaults, precedence (object < env < overrides) and errors that name the offending key.
import { Address } from '@ton/core';
import { CocoonError } from '../../../../agents/core/errors';
import { CHAIN_DEFAULTS, loadChainConfig } from '../../../../agents/core/chain/config';
import { ConfigError } from '../../../../agents/core/chain/errors';

const EP = 'https://testnet.toncenter.com/api/v2/jsonRPC';
const ROOT = new Address(0, Buffer.alloc(32, 0xab));

function fails(f: () => unknown): ConfigError {
    try {
        f();
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect(e).toBeInstanceOf(CocoonError);
        expect((e as ConfigError).code).toBe('CONFIG_INVALID');
        return e as ConfigError;
    }
    throw new Error('expected a ConfigError');
}

describe('loadChainConfig', () => {
    it('applies defaults: 1 rps without a key, 10 with one', () => {
        const a = loadChainConfig({ endpoint: EP }, {});
        expect(a).toEqual({
            endpoint: EP,
            rps: 1,
            maxRetries: CHAIN_DEFAULTS.maxRetries,
            backoffBaseMs: CHAIN_DEFAULTS.backoffBaseMs,
            backoffMaxMs: CHAIN_DEFAULTS.backoffMaxMs,
            retryAfterMaxMs: CHAIN_DEFAULTS.retryAfterMaxMs,
            timeoutMs: CHAIN_DEFAULTS.timeoutMs,
            cacheTtlMs: CHAIN_DEFAULTS.cacheTtlMs,
            sendTimeoutMs: CHAIN_DEFAULTS.sendTimeoutMs,
            sendPollMs: CHAIN_DEFAULTS.sendPollMs,
        });
        const b = loadChainConfig({ endpoint: EP }, { TONCENTER_API_KEY: 'key' });
        expect(b.apiKey).toBe('key');
        expect(b.rps).toBe(10);
        expect(loadChainConfig({ endpoint: EP, rps: 25 }, { TONCENTER_API_KEY: 'key' }).rps).toBe(25);
    });

    it('reads the environment over the object, and overrides over both', () => {
        const env = {
            TONCENTER_ENDPOINT: 'http://127.0.0.1:9/api/v2/jsonRPC',
            TONCENTER_RPS: '4',
            TONCENTER_MAX_RETRIES: '2',
            TONCENTER_TIMEOUT_MS: '1500',
            COCOON_ROOT: ROOT.toString(),
            COCOON_ROOT_CACHE_TTL_MS: '0',
            TONAPI_ENDPOINT: 'https://testnet.tonapi.io',
            TONAPI_KEY: 'tk',
            UNRELATED: 'x',
        };
        const c = loadChainConfig({ endpoint: EP, rps: 2, maxRetries: 7 }, env, { maxRetries: 1 });
        expect(c.endpoint).toBe(env.TONCENTER_ENDPOINT);
        expect(c.rps).toBe(4);
        expect(c.maxRetries).toBe(1);
        expect(c.timeoutMs).toBe(1500);
        expect(c.rootAddress?.equals(ROOT)).toBe(true);
        expect(c.cacheTtlMs).toBe(0);
        expect(c.tonapi).toEqual({ endpoint: 'https://testnet.tonapi.io', apiKey: 'tk' });
        // Empty variables count as unset.
        expect(loadChainConfig({ endpoint: EP, rps: 3 }, { TONCENTER_RPS: '', TONCENTER_ENDPOINT: '' }).rps).toBe(3);
        // Raw-form addresses and Address values are accepted.
        expect(loadChainConfig({ endpoint: EP, rootAddress: ROOT.toRawString() }, {}).rootAddress?.equals(ROOT)).toBe(true);
        expect(loadChainConfig({ endpoint: EP, rootAddress: ROOT }, {}).rootAddress?.equals(ROOT)).toBe(true);
    });

    it.each<[string, unknown, Record<string, string>, string, RegExp]>([
        ['missing endpoint', {}, {}, 'chain.endpoint', /required \(or set TONCENTER_ENDPOINT\)/],
        ['non-URL endpoint', { endpoint: 'toncenter' }, {}, 'chain.endpoint', /http\(s\) URL/],
        ['ftp endpoint from env', {}, { TONCENTER_ENDPOINT: 'ftp://x/y' }, 'TONCENTER_ENDPOINT', /http\(s\) URL/],
        ['credentials in URL', { endpoint: 'https://u:p@x.io/' }, {}, 'chain.endpoint', /credentials/],
        ['endpoint not a string', { endpoint: 5 }, {}, 'chain.endpoint', /string URL/],
        ['rps not a number (env)', { endpoint: EP }, { TONCENTER_RPS: 'fast' }, 'TONCENTER_RPS', /must be a number, got "fast"/],
        ['rps zero', { endpoint: EP, rps: 0 }, {}, 'chain.rps', /between/],
        ['rps negative string', { endpoint: EP, rps: '-1' }, {}, 'chain.rps', /must be a number/],
        ['maxRetries fractional', { endpoint: EP, maxRetries: 1.5 }, {}, 'chain.maxRetries', /integer/],
        ['maxRetries too big (env)', { endpoint: EP }, { TONCENTER_MAX_RETRIES: '1000' }, 'TONCENTER_MAX_RETRIES', /between 0 and 50/],
        ['timeout NaN', { endpoint: EP, timeoutMs: NaN }, {}, 'chain.timeoutMs', /finite/],
        ['backoff base above max', { endpoint: EP, backoffBaseMs: 5000, backoffMaxMs: 1000 }, {}, 'chain.backoffBaseMs', /must not exceed backoffMaxMs \(1000\)/],
        ['bad root (env)', { endpoint: EP }, { COCOON_ROOT: 'not-an-address' }, 'COCOON_ROOT', /TON address/],
        ['bad root (object)', { endpoint: EP, rootAddress: 12 }, {}, 'chain.rootAddress', /TON address/],
        ['empty api key', { endpoint: EP, apiKey: '  ' }, {}, 'chain.apiKey', /non-empty/],
        ['api key with newline (env)', { endpoint: EP }, { TONCENTER_API_KEY: 'a\nb' }, 'TONCENTER_API_KEY', /line breaks/],
        ['unknown key', { endpoint: EP, rpss: 3 }, {}, 'chain.rpss', /unknown key/],
        ['unknown tonapi key', { endpoint: EP, tonapi: { endpoint: 'https://tonapi.io', key: 'x' } }, {}, 'chain.tonapi.key', /unknown key/],
        ['tonapi key without endpoint', { endpoint: EP }, { TONAPI_KEY: 'k' }, 'TONAPI_KEY', /tonapi\.endpoint \(TONAPI_ENDPOINT\) is not/],
        ['bad tonapi endpoint', { endpoint: EP, tonapi: { endpoint: 'nope' } }, {}, 'chain.tonapi.endpoint', /http\(s\) URL/],
        ['not an object', 'endpoint=x', {}, 'chain', /must be an object/],
    ])('rejects %s, naming the key', (_name, input, env, key, message) => {
        const e = fails(() => loadChainConfig(input, env));
        expect(e.key).toBe(key);
        expect(e.details).toMatchObject({ key });
        expect(e.message.startsWith(`${key}: `)).toBe(true);
        expect(e.message).toMatch(message);
    });

    it('names keys with the caller-chosen prefix', () => {
        const e = fails(() => loadChainConfig({ endpoint: EP, rps: 'x' }, {}, {}, 'agent.chain'));
        expect(e.key).toBe('agent.chain.rps');
    });
});
