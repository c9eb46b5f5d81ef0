// The one escaping helper of the explorer's pages: a tagged template that escapes every interpolation for text and
// attribute context. Chain strings (model names, endpoints, action words) are attacker-chosen; the only way to put
// markup into a page is to have built it with `html` itself.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `s` safe inside element text and inside a quoted attribute value; control characters (which no page text
 * needs and HTML parsers treat as errors) are shown as U+FFFD. */
export function escapeHtml(s: string): string {
    return s.replace(/[&<>"']/g, (c) => ESCAPES[c]).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '\ufffd');
}

/** Markup built by `html` (already escaped); anything else interpolated is escaped. */
export class Html {
    constructor(readonly markup: string) {}
    toString(): string {
        return this.markup;
    }
}

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(v: Interpolation): string {
    if (v === null || v === undefined || v === false) return '';
    if (v instanceof Html) return v.markup;
    if (Array.isArray(v)) return v.map(render).join('');
    return escapeHtml(String(v));
}

/** html`<td>${name}</td>`: every `${}` is escaped unless it is itself `Html`; arrays are joined; null/false are empty. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
    let out = strings[0];
    for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
    return new Html(out);
}
