// Server-side HTML of every explorer page (owned by web12; this file is the agreed interface until it lands).
import type { PageContext, PageModel } from '../types';

/** The whole HTML document of one page; every chain string is escaped. */
export function renderPage(model: PageModel, ctx: PageContext): string {
    throw new Error(`renderPage(${model.page}) is not built yet (${ctx.network})`);
}
