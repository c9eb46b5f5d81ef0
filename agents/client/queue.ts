// A single-consumer queue with an end, an error and a per-read deadline: how frames reach a running request, a
// candidate query or the handshake, and how a request's events reach the caller (spec/client.md).

export const DONE: unique symbol = Symbol('done');

/** A single-consumer queue with an end, an error and a per-read deadline. */
export class Queue<T> {
    private items: T[] = [];
    private waiter?: { resolve: (v: T | typeof DONE) => void; reject: (e: Error) => void };
    private error?: Error;
    private ended = false;

    get closed(): boolean {
        return this.ended || this.error !== undefined;
    }

    push(v: T): void {
        if (this.closed) return;
        const w = this.waiter;
        this.waiter = undefined;
        if (w) w.resolve(v);
        else this.items.push(v);
    }

    /** Takes whatever was pushed and not read yet. */
    drain(): T[] {
        const out = this.items;
        this.items = [];
        return out;
    }

    end(): void {
        if (this.closed) return;
        this.ended = true;
        const w = this.waiter;
        this.waiter = undefined;
        w?.resolve(DONE);
    }

    fail(e: Error): void {
        if (this.closed) return;
        this.error = e;
        const w = this.waiter;
        this.waiter = undefined;
        w?.reject(e);
    }

    next(timeoutMs?: number, onTimeout?: () => Error): Promise<T | typeof DONE> {
        if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
        if (this.error) return Promise.reject(this.error);
        if (this.ended) return Promise.resolve(DONE);
        return new Promise((resolve, reject) => {
            const timer =
                timeoutMs === undefined
                    ? undefined
                    : setTimeout(() => {
                          this.waiter = undefined;
                          reject(onTimeout ? onTimeout() : new Error('timeout'));
                      }, timeoutMs);
            this.waiter = {
                resolve: (v) => {
                    clearTimeout(timer);
                    resolve(v);
                },
                reject: (e) => {
                    clearTimeout(timer);
                    reject(e);
                },
            };
        });
    }
}
