/**
 * The last offset delivered to the app, and the rule that keeps delivery exactly once: an
 * event is delivered only if its offset is past that one. A resume asks for everything after
 * it, so whatever a reconnect brings twice (a replay racing the live stream, a catch-up from
 * an older offset) is dropped here.
 */
import { persistentOffset } from "./protocol.js";
export class OffsetTracker {
    last;
    constructor(last) {
        this.last = last;
    }
    /** The offset to resume from, or undefined before anything was seen. */
    get offset() {
        return this.last;
    }
    /** Whether an event with this offset is new; if so, it becomes the last delivered. */
    accept(offset) {
        if (this.last !== undefined && offset <= this.last)
            return false;
        this.last = offset;
        return true;
    }
    /** Adopt the server's offset when the client had none (its first `ready`). */
    adoptIfUnset(offset) {
        this.last ??= offset;
    }
    /** After `resync_required`: events before `offset` are gone; the app reloads instead. */
    restartAt(offset) {
        this.last = offset;
    }
}
/**
 * Apply a frame to a tracker: whether the app should see it. Persistent events are new or
 * not; `ready` gives a tracker with no offset the server's; `resync_required` moves it on.
 */
export function admit(offsets, frame) {
    const offset = persistentOffset(frame);
    if (offset !== undefined)
        return offsets.accept(offset);
    if (frame.type === "ready")
        offsets.adoptIfUnset(frame.offset);
    if (frame.type === "resync_required")
        offsets.restartAt(frame.offset);
    return true;
}
