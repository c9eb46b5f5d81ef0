import { CompilerConfig } from '@ton/blueprint';

export const compile: CompilerConfig = {
    lang: 'tact',
    target: 'contracts/client_channel.tact',
    options: { debug: false, external: false },
};
