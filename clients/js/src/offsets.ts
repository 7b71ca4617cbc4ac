/**
 * The last offset delivered to the app, and the rule that keeps delivery exactly once: an
 * event is delivered only if its offset is past that one. A resume asks for everything after
 * it, so whatever a reconnect brings twice (a replay racing the live stream, a catch-up from
 * an older offset) is dropped here.
 */

export class OffsetTracker {
  constructor(private last: number | undefined) {}

  /** The offset to resume from, or undefined before anything was seen. */
  get offset(): number | undefined {
    return this.last;
  }

  /** Whether an event with this offset is new; if so, it becomes the last delivered. */
  accept(offset: number): boolean {
    if (this.last !== undefined && offset <= this.last) return false;
    this.last = offset;
    return true;
  }

  /** Adopt the server's offset when the client had none (its first `ready`). */
  adoptIfUnset(offset: number): void {
    this.last ??= offset;
  }

  /** After `resync_required`: events before `offset` are gone; the app reloads instead. */
  restartAt(offset: number): void {
    this.last = offset;
  }
}
