/**
 * Exponential back-off with full jitter: try n waits a random time in [0, min(max, base·2ⁿ)).
 * Full jitter spreads the reconnects of many clients that lost one node at the same moment
 * over the whole window instead of bunching them at its edges (AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015).
 */
export const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 30_000 };
export class Backoff {
    options;
    random;
    failures = 0;
    constructor(options, random) {
        this.options = options;
        this.random = random;
    }
    /** The delay before the next try; each call counts one more failure. */
    next() {
        const exponent = Math.min(this.failures, 30); // 2³⁰ already exceeds any sane maxMs
        this.failures += 1;
        const window = Math.min(this.options.maxMs, this.options.baseMs * 2 ** exponent);
        return Math.floor(this.random() * window);
    }
    /** A try succeeded: the next failure starts from the base window again. */
    reset() {
        this.failures = 0;
    }
    get attempt() {
        return this.failures;
    }
}
