/**
 * Exponential back-off with full jitter: try n waits a random time in [0, min(max, base·2ⁿ)).
 * Full jitter spreads the reconnects of many clients that lost one node at the same moment
 * over the whole window instead of bunching them at its edges (AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015).
 */

import type { Random } from "./clock.js";

export interface BackoffOptions {
  /** The window of the first retry, in milliseconds. */
  baseMs: number;
  /** The largest window, in milliseconds, however many tries failed. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

export class Backoff {
  private failures = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: Random,
  ) {}

  /** The delay before the next try; each call counts one more failure. */
  next(): number {
    const exponent = Math.min(this.failures, 30); // 2³⁰ already exceeds any sane maxMs
    this.failures += 1;
    const window = Math.min(this.options.maxMs, this.options.baseMs * 2 ** exponent);
    return Math.floor(this.random() * window);
  }

  /** A try succeeded: the next failure starts from the base window again. */
  reset(): void {
    this.failures = 0;
  }

  get attempt(): number {
    return this.failures;
  }
}
