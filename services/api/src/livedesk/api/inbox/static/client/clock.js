/**
 * Time and chance as the client sees them, injectable so that tests can check back-off,
 * heartbeats and typing without waiting in real time.
 */
export const systemClock = {
    now: () => Date.now(),
    setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
    clearTimeout: (timer) => globalThis.clearTimeout(timer),
};
/** One timer that is either armed or not: arming it again replaces the previous one. */
export class Timer {
    clock;
    timer;
    constructor(clock) {
        this.clock = clock;
    }
    arm(delayMs, callback) {
        this.cancel();
        this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            callback();
        }, delayMs);
    }
    cancel() {
        if (this.timer !== undefined)
            this.clock.clearTimeout(this.timer);
        this.timer = undefined;
    }
    get armed() {
        return this.timer !== undefined;
    }
}
