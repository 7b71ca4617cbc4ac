/**
 * Time and chance as the client sees them, injectable so that tests can check back-off,
 * heartbeats and typing without waiting in real time.
 */

export type TimerId = unknown;

export interface Clock {
  /** Milliseconds since the epoch (compared with a token's `exp`). */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerId;
  clearTimeout(timer: TimerId): void;
}

/** A number in [0, 1), as Math.random. */
export type Random = () => number;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (timer) => globalThis.clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/** One timer that is either armed or not: arming it again replaces the previous one. */
export class Timer {
  private timer: TimerId | undefined;

  constructor(private readonly clock: Clock) {}

  arm(delayMs: number, callback: () => void): void {
    this.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      callback();
    }, delayMs);
  }

  cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  get armed(): boolean {
    return this.timer !== undefined;
  }
}
