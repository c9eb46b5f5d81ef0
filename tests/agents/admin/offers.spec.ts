// The worker's offer book (agents/worker/offers.ts): what hello and offer frames announce and which requests are
// refused with WORKER_DRAINING, for every mix of disabled models, a disabled or draining worker and Root's registry.
import { OfferBook } from '../../../agents/worker/offers';

const A = { name: 'org/a', coefficient: 1000n };
const B = { name: 'org/b', coefficient: 800n };

describe('OfferBook', () => {
    it('hello announces every configured model at its current coefficient; an offer only what is enabled and registered', () => {
        let registered = new Set(['org/a', 'org/b']);
        const book = new OfferBook([A, B], (n) => registered.has(n));
        expect(book.all()).toEqual([A, B]);
        expect(book.announced()).toEqual([A, B]);
        book.setCoefficient('org/b', 1200n);
        expect(book.all()).toEqual([A, { name: 'org/b', coefficient: 1200n }]);
        book.disable('org/a');
        expect(book.announced()).toEqual([{ name: 'org/b', coefficient: 1200n }]);
        registered = new Set(['org/a']); // Root dropped org/b: an offer naming it would be refused
        expect(book.announced()).toEqual([]);
        book.enable('org/a');
        expect(book.announced()).toEqual([A]);
        expect(book.all().map((m) => m.name)).toEqual(['org/a', 'org/b']);
    });

    it('refuses requests of a disabled model, and every request while the worker is disabled or draining, until enabled', () => {
        const book = new OfferBook([A, B]);
        expect([book.refusal('org/a'), book.refusal('org/b')]).toEqual([null, null]);
        book.disable('org/b');
        expect(book.refusal('org/a')).toBeNull();
        expect(book.refusal('org/b')).toMatch(/disabled org\/b/);
        book.disable(undefined, true);
        expect(book.state).toBe('draining');
        expect(book.announced()).toEqual([]);
        expect(book.refusal('org/a')).toMatch(/draining/);
        book.enable();
        expect(book.state).toBe('serving');
        expect(book.refusal('org/a')).toBeNull();
        expect(book.refusal('org/b')).toMatch(/disabled/); // the model stays disabled until enabled by name
        book.disable();
        expect(book.snapshot()).toEqual({ state: 'disabled', models: [{ ...A, enabled: true }, { ...B, enabled: false }] });
    });
});
