// One clock type for every role: the time in milliseconds, injected, so tests move it instead of waiting.

/** Now, in ms since the epoch. */
export interface Clock {
    now(): number;
}

/** A clock that also waits (chain polling, staking, retries); tests inject one whose sleep returns at once. */
export interface SleepClock extends Clock {
    sleep(ms: number): Promise<void>;
}

export const systemClock: SleepClock = {
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
