// The HPKE error code a call ends with ('OK' when it succeeds); anything other than an HpkeError is rethrown.
import { HpkeError, HpkeErrorCode } from '../../../../agents/core/hpke';

export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<HpkeErrorCode | 'OK'> {
    try {
        await (typeof p === 'function' ? p() : p);
    } catch (e) {
        if (e instanceof HpkeError) return e.code;
        throw e;
    }
    return 'OK';
}
