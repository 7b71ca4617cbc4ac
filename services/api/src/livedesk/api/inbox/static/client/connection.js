/**
 * One logical connection to /ws made of successive sockets: authenticate, resume from the
 * last offset delivered, keep the socket proven alive, and when it goes, try again after a
 * back-off, or at once when the host says the network or the page is back.
 *
 * Deliberately not here: subscriptions, typing and the message queue (client.ts wires them
 * to `open`), and what the app does with events (it gets them through `deliver`).
 */
import { Backoff } from "./backoff.js";
import { Timer } from "./clock.js";
import { admit } from "./offsets.js";
import { CloseCode, parseServerFrame, persistentOffset, TOKEN_EXPIRED, } from "./protocol.js";
const OPEN = 1; // WebSocket.OPEN in every implementation
/** Ping every 25 s (under the usual 30-60 s idle cut of proxies); 10 s for any answer. */
export const DEFAULT_HEARTBEAT = { intervalMs: 25_000, timeoutMs: 10_000 };
/** A socket not authenticated this long after it was made is given up on (ms). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** After a drain hint, reconnect within this window (ms): the server already spread the hints. */
export const DEFAULT_DRAIN_JITTER_MS = 1_000;
export class Connection {
    options;
    /** A connection is the only one its client has: it leads itself. */
    isLeader = true;
    socket;
    authenticated = false;
    stopped = false;
    tokenExpired = false;
    current;
    retry;
    ping;
    answerDeadline;
    renewal;
    unlisten;
    constructor(options) {
        this.options = options;
        this.retry = new Timer(options.clock);
        this.ping = new Timer(options.clock);
        this.answerDeadline = new Timer(options.clock);
        this.renewal = new Timer(options.clock);
        this.unlisten = () => undefined;
    }
    /** Begin: connect now, or wait for the host to be online. */
    start() {
        this.unlisten = this.options.signals.listen((signal) => this.onSignal(signal));
        if (this.options.signals.online())
            void this.open();
        else
            this.setState({ type: "state", state: "offline", reason: "the host is offline" });
    }
    get state() {
        return this.current;
    }
    /** Send a frame on the authenticated socket; false if there is none now. */
    send(frame) {
        if (!this.authenticated || this.socket?.readyState !== OPEN)
            return false;
        this.socket.send(JSON.stringify(frame));
        return true;
    }
    /** Close for good: no more tries, no more events. */
    close() {
        if (this.stopped)
            return;
        this.stopped = true;
        this.unlisten();
        this.retry.cancel();
        this.abandon();
        this.setState({ type: "state", state: "closed", reason: "closed by the app" });
    }
    async open() {
        this.retry.cancel();
        this.setState({ type: "state", state: "connecting" });
        let token;
        try {
            token = this.tokenExpired
                ? await this.options.tokens.ask("expired")
                : await this.options.tokens.current();
        }
        catch (error) {
            this.scheduleRetry(`the token provider failed: ${String(error)}`);
            return;
        }
        if (this.stopped)
            return;
        this.tokenExpired = false;
        let socket;
        try {
            socket = new this.options.WebSocket(this.options.url);
        }
        catch (error) {
            this.scheduleRetry(`cannot open a socket: ${String(error)}`); // a browser refusing the URL
            return;
        }
        this.socket = socket;
        // A server that accepts TCP and says nothing (frozen, overloaded) must not hold us forever.
        this.answerDeadline.arm(this.options.connectTimeoutMs, () => this.dead("no ready in time"));
        const resumeFrom = this.options.offsets.offset;
        socket.onopen = () => {
            const auth = { type: "auth", token };
            socket.send(JSON.stringify(resumeFrom === undefined ? auth : { ...auth, resume_from: resumeFrom }));
        };
        socket.onmessage = (event) => {
            if (typeof event.data !== "string")
                return;
            const frame = parseServerFrame(event.data);
            if (frame !== null)
                this.receive(frame);
        };
        socket.onclose = (event) => this.dropped(event.code, event.reason);
        socket.onerror = () => undefined; // a close event follows and says what happened
    }
    receive(frame) {
        if (!admit(this.options.offsets, frame))
            return;
        if (persistentOffset(frame) !== undefined) {
            this.options.deliver(frame);
            return;
        }
        switch (frame.type) {
            case "ready":
                this.answerDeadline.cancel();
                this.authenticated = true;
                this.options.backoff.reset();
                this.ping.arm(this.options.heartbeat.intervalMs, () => this.probe());
                this.scheduleRenewal();
                this.setState({ type: "state", state: "open" });
                this.options.opened(frame);
                break;
            case "pong":
                // Only the answer proves the ping arrived: a frame already on its way when the
                // peer froze (presence_state, an event) proves nothing.
                this.answerDeadline.cancel();
                break;
            case "auth_renewed":
                this.scheduleRenewal();
                break;
            case "reconnect": {
                // The node is draining: go now (spread a little) instead of waiting for its 1001.
                this.options.deliver(frame);
                this.abandon();
                const delayMs = Math.floor(this.options.random() * this.options.drainJitterMs);
                this.waitThenOpen(delayMs, "the server asked to reconnect (drain)");
                return;
            }
        }
        this.options.deliver(frame);
    }
    dropped(code, reason) {
        this.abandon();
        if (this.stopped)
            return;
        if (code === CloseCode.unauthenticated && reason === TOKEN_EXPIRED) {
            this.tokenExpired = true;
        }
        else if (code === CloseCode.unauthenticated || code === CloseCode.forbidden) {
            // A token the server refuses for another reason will not get better by retrying.
            this.stopped = true;
            this.unlisten();
            this.setState({ type: "state", state: "closed", reason: `refused (${code}): ${reason}` });
            return;
        }
        this.scheduleRetry(`closed (${code})${reason ? `: ${reason}` : ""}`);
    }
    scheduleRetry(reason) {
        if (!this.options.signals.online()) {
            this.setState({ type: "state", state: "offline", reason });
            return;
        }
        this.waitThenOpen(this.options.backoff.next(), reason);
    }
    waitThenOpen(delayMs, reason) {
        const attempt = this.options.backoff.attempt;
        this.setState({ type: "state", state: "reconnecting", delayMs, attempt, reason });
        this.retry.arm(delayMs, () => void this.open());
    }
    /** Ping now; a socket that says nothing before the deadline is dead. */
    probe() {
        if (!this.send({ type: "ping" }))
            return;
        this.ping.arm(this.options.heartbeat.intervalMs, () => this.probe());
        if (!this.answerDeadline.armed) {
            this.answerDeadline.arm(this.options.heartbeat.timeoutMs, () => this.dead("no answer to a ping"));
        }
    }
    dead(reason) {
        this.abandon();
        this.scheduleRetry(reason);
    }
    onSignal(signal) {
        if (this.stopped)
            return;
        if (this.socket !== undefined) {
            this.probe(); // open, or about to be: check it rather than trust it
            return;
        }
        if (this.current === "connecting")
            return; // waiting for the token: one socket at a time
        if (signal === "offline") {
            this.retry.cancel();
            this.setState({ type: "state", state: "offline", reason: "the host went offline" });
        }
        else {
            void this.open(); // the network or the page is back: try now, not after the back-off
        }
    }
    scheduleRenewal() {
        const delayMs = this.options.tokens.renewInMs();
        if (delayMs === undefined)
            return;
        this.renewal.arm(delayMs, () => void this.renew());
    }
    async renew() {
        const before = this.options.tokens.held;
        let token;
        try {
            token = await this.options.tokens.ask("expiring");
        }
        catch {
            return; // the socket lives until expiry; the 4401 that follows asks again
        }
        // The same token again: nothing newer to give; the server closes at expiry and asks.
        if (token !== before)
            this.send({ type: "auth", token, ref: "renew" });
    }
    /** Forget the current socket: no more of its events, timers off, closed if still open. */
    abandon() {
        const socket = this.socket;
        this.socket = undefined;
        this.authenticated = false;
        this.ping.cancel();
        this.answerDeadline.cancel();
        this.renewal.cancel();
        if (socket === undefined)
            return;
        socket.onopen = null;
        socket.onmessage = null;
        socket.onclose = null;
        socket.onerror = () => undefined; // `ws` throws an error event that has no listener
        try {
            socket.close(1000);
        }
        catch {
            // closing a socket that never opened may throw; it is gone either way
        }
    }
    setState(event) {
        this.current = event.state;
        this.options.state(event);
    }
}
