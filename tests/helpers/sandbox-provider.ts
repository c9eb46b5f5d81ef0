// A Blueprint NetworkProvider over an @ton/sandbox Blockchain, so tests run the scripts in scripts/
// exactly as `npx blueprint run <script>` would, with scripted answers to their prompts.
import { NetworkProvider, UIProvider } from '@ton/blueprint';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, Contract, ContractProvider, ContractState, OpenedContract } from '@ton/core';

export class ScriptedUI implements UIProvider {
    /** Answers are consumed in order by input/inputAddress/choose; a prompt without one throws. */
    constructor(
        private readonly answers: string[] = [],
        readonly output: string[] = [],
    ) {}
    write(message: string) {
        this.output.push(message);
    }
    async prompt(_message: string) {
        return true;
    }
    async inputAddress(message: string, fallback?: Address) {
        const a = this.answers.shift();
        if (a === undefined) {
            if (fallback) return fallback;
            throw new Error(`no scripted answer for: ${message}`);
        }
        return Address.parse(a);
    }
    async input(message: string) {
        const a = this.answers.shift();
        if (a === undefined) throw new Error(`no scripted answer for: ${message}`);
        return a;
    }
    async choose<T>(message: string, choices: T[], display: (v: T) => string) {
        const a = this.answers.shift();
        const found = choices.find((c) => display(c) === a);
        if (!found) throw new Error(`no scripted choice for: ${message}`);
        return found;
    }
    setActionPrompt(message: string) {
        this.output.push(message);
    }
    clearActionPrompt() {}
    get text() {
        return this.output.join('\n');
    }
}

export function sandboxProvider(bc: Blockchain, wallet: SandboxContract<TreasuryContract>, ui = new ScriptedUI()): NetworkProvider & { ui(): ScriptedUI } {
    const sender = wallet.getSender();
    return {
        network: () => 'custom',
        explorer: () => 'tonviewer',
        sender: () => sender,
        api: () => {
            throw new Error('sandbox provider has no TonClient');
        },
        provider: (address: Address, init?: { code?: Cell; data?: Cell }): ContractProvider =>
            bc.provider(address, init?.code && init?.data ? { code: init.code, data: init.data } : undefined),
        isContractDeployed: async (address: Address) => (await bc.getContract(address)).accountState?.type === 'active',
        waitForDeploy: async (address: Address) => {
            if ((await bc.getContract(address)).accountState?.type !== 'active') throw new Error(`not deployed: ${address}`);
        },
        waitForLastTransaction: async () => {},
        getContractState: async (address: Address): Promise<ContractState> => (await bc.provider(address).getState()),
        getConfig: async () => {
            throw new Error('not available in sandbox provider');
        },
        deploy: async () => {
            throw new Error('deprecated');
        },
        open: <T extends Contract>(contract: T): OpenedContract<T> => bc.openContract(contract) as unknown as OpenedContract<T>,
        ui: () => ui,
    } as NetworkProvider & { ui(): ScriptedUI };
}
