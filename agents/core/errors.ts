// Typed errors with stable codes. The code is what appears on the wire, in HTTP error bodies, in CLI JSON
// output and in logs; spec/ documents every code once.

export class CocoonError<C extends string = string> extends Error {
    constructor(
        readonly code: C,
        message: string,
        readonly details?: Record<string, unknown>,
    ) {
        super(message);
        this.name = new.target.name;
    }

    toJSON() {
        return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
    }
}
