/**
 * The typing indicator from the typist's side. The server forgets a `start` after a few
 * seconds (presence's TTL), so a typist repeats it while typing, at most once per interval,
 * and says `stop` on send, on blur and after a pause: an indicator then never outlives the
 * typing, and a lost `stop` is covered by the TTL.
 */
import { Timer } from "./clock.js";
/** Repeat `start` every 3 s: under presence's 6 s TTL with room for one lost frame. */
export const DEFAULT_TYPING_INTERVAL_MS = 3_000;
/** No key for this long (ms) ends the typing. */
export const DEFAULT_TYPING_IDLE_MS = 5_000;
export class TypingNotifier {
    send;
    clock;
    intervalMs;
    idleMs;
    lastStart = new Map();
    idle = new Map();
    /** `intervalMs` is read on each keystroke: the server may set it in `ready`. */
    constructor(send, clock, intervalMs, idleMs = DEFAULT_TYPING_IDLE_MS) {
        this.send = send;
        this.clock = clock;
        this.intervalMs = intervalMs;
        this.idleMs = idleMs;
    }
    /** Call on every keystroke in a conversation's composer. */
    input(conversationId) {
        const now = this.clock.now();
        const last = this.lastStart.get(conversationId);
        if (last === undefined || now - last >= this.intervalMs()) {
            if (this.send(conversationId, "start"))
                this.lastStart.set(conversationId, now);
        }
        let timer = this.idle.get(conversationId);
        if (timer === undefined)
            this.idle.set(conversationId, (timer = new Timer(this.clock)));
        timer.arm(this.idleMs, () => this.stop(conversationId));
    }
    /** Call on send and on blur; also called after a pause. Says `stop` only after a `start`. */
    stop(conversationId) {
        this.idle.get(conversationId)?.cancel();
        this.idle.delete(conversationId);
        if (this.lastStart.delete(conversationId))
            this.send(conversationId, "stop");
    }
    /** The socket is new: the server forgot every `start`, so the next keystroke sends one. */
    reset() {
        this.lastStart.clear();
    }
}
