/** A clock whose time moves only when the test says, running the timers that fall due. */

import type { Clock, TimerId } from "../../src/clock.js";

interface Pending {
  at: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  private time = 1_000_000;
  private readonly timers = new Map<number, Pending>();
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): TimerId {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + delayMs, callback });
    return id;
  }

  clearTimeout(timer: TimerId): void {
    this.timers.delete(timer as number);
  }

  /** Move time on by `ms`, running each timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = end;
  }
}
