// The client's live admin command (spec/operations.md, "Live admin"): `status` only, served on its admin socket by
// agents/core/admin/server.ts while `cocoon client serve` runs.
import type { AdminHandlers } from '../core/admin/server';
import type { CocoonClient } from './runner';

export function clientAdminHandlers(c: CocoonClient): AdminHandlers {
    return {
        status: { summary: "the channel's balances, the latest signed voucher and the proxy's payment status", run: async () => ({ role: 'client', ...(await c.balances()) }) },
    };
}
