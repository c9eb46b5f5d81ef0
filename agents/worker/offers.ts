// What the worker offers right now (spec/worker.md, "Live admin"): each configured model at its coefficient, which
// `cocoon admin coefficient` changes while the worker runs, the models disabled, and whether the whole worker is
// disabled or draining. The hello announces every configured model at its current coefficient; an `offer` frame
// then announces what is enabled (proxy-connection.ts). A request for a disabled model, or any request while the
// worker is disabled or draining, is refused with WORKER_DRAINING (retryable: the proxy routes it elsewhere).
//
// The coefficient a request is served at is not read here but from its connection's acknowledged offer
// (ProxyConnection.offer): the one the proxy routed it at, so a change never alters the price of a request the
// proxy already admitted.
import type { WorkerModelOffer } from './options';

export type WorkerAdminState = 'serving' | 'disabled' | 'draining';

export class OfferBook {
    /** Model → current coefficient, in config order. */
    private readonly coefficients: Map<string, bigint>;
    private readonly disabledModels = new Set<string>();
    private whole: WorkerAdminState = 'serving';

    constructor(
        models: readonly WorkerModelOffer[],
        /** Whether Root registers the model now: a model Root dropped is not announced (the proxy would refuse the offer). */
        private readonly registered: (model: string) => boolean = () => true,
    ) {
        this.coefficients = new Map(models.map((m) => [m.name, m.coefficient]));
    }

    has(model: string): boolean {
        return this.coefficients.has(model);
    }

    /** Every configured model at its current coefficient (what hello announces). */
    all(): WorkerModelOffer[] {
        return [...this.coefficients].map(([name, coefficient]) => ({ name, coefficient }));
    }

    /** What the worker serves now: nothing while disabled or draining, else the enabled models Root registers. */
    announced(): WorkerModelOffer[] {
        if (this.whole !== 'serving') return [];
        return this.all().filter((m) => !this.disabledModels.has(m.name) && this.registered(m.name));
    }

    /** Why a new request for `model` is refused (WORKER_DRAINING), or null when it is served. */
    refusal(model: string): string | null {
        if (this.whole !== 'serving') return `the worker is ${this.whole}`;
        if (this.disabledModels.has(model)) return `the worker disabled ${model}`;
        return null;
    }

    setCoefficient(model: string, coefficient: bigint): void {
        this.coefficients.set(model, coefficient);
    }

    /** Disables one model, or the whole worker (`drain`: the same, reported as draining). */
    disable(model?: string, drain = false): void {
        if (model !== undefined) this.disabledModels.add(model);
        else this.whole = drain ? 'draining' : 'disabled';
    }

    /** Enables one model, or the whole worker again (after disable or drain). */
    enable(model?: string): void {
        if (model !== undefined) this.disabledModels.delete(model);
        else this.whole = 'serving';
    }

    get state(): WorkerAdminState {
        return this.whole;
    }

    snapshot(): { state: WorkerAdminState; models: { name: string; coefficient: bigint; enabled: boolean }[] } {
        return { state: this.whole, models: this.all().map((m) => ({ ...m, enabled: !this.disabledModels.has(m.name) })) };
    }
}
