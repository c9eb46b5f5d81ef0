import { Config } from '@ton/blueprint';

export const config: Config = {
    // `--custom <url> --custom-version v2` points scripts at the devnet chain server or any toncenter v2 endpoint.
    separateCompilables: false,
};
