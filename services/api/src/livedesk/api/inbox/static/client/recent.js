/**
 * The last persistent events the tabs of a browser were given, so that a tab that joins (or a
 * follower that missed the end of a handover) gets what came after its offset without a socket
 * of its own. Offsets are gapless per account (docs/design.md), so a contiguous run of them
 * says exactly which offsets it can replay; a gap (never expected) starts a new run.
 */
import { persistentOffset } from "./protocol.js";
/** Enough for a tab that loads its state while a busy account writes; a few hundred kB. */
export const DEFAULT_RECENT_LIMIT = 1_000;
export class RecentEvents {
    limit;
    events = [];
    constructor(limit = DEFAULT_RECENT_LIMIT) {
        this.limit = limit;
    }
    /** Keep a frame if it is persistent; `resync_required` forgets everything before it. */
    record(frame) {
        if (frame.type === "resync_required") {
            this.events.length = 0;
            return;
        }
        const offset = persistentOffset(frame);
        if (offset === undefined)
            return;
        const last = this.events.at(-1);
        if (last !== undefined && offset !== last.offset + 1)
            this.events.length = 0;
        this.events.push(frame);
        if (this.events.length > this.limit)
            this.events.shift();
    }
    /**
     * The events after `offset`, or undefined if some of them are no longer (or never were)
     * here. `latest` is the last offset the tabs saw: with none kept, only a tab at or past it
     * is complete.
     */
    after(offset, latest) {
        if (latest === undefined || (offset !== undefined && offset >= latest))
            return [];
        const first = this.events[0];
        if (offset === undefined || first === undefined || offset < first.offset - 1)
            return undefined;
        return this.events.filter((event) => event.offset > offset);
    }
}
