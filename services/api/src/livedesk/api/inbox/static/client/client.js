/**
 * `connect()`: the client an app holds. It puts together the connection (socket, resume,
 * heartbeat, back-off; shared with the other tabs of the login where the browser can), the
 * conversations it is subscribed to, the typing notifier and the queue of messages to send,
 * and gives the app one place to listen.
 */
import { Backoff, DEFAULT_BACKOFF } from "./backoff.js";
import { systemClock } from "./clock.js";
import { Connection, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_DRAIN_JITTER_MS, DEFAULT_HEARTBEAT, } from "./connection.js";
import { Emitter } from "./emitter.js";
import { OffsetTracker } from "./offsets.js";
import { Outbox } from "./outbox.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, RestClient } from "./rest.js";
import { hostTabs } from "./tab-host.js";
import { TabLink } from "./tab-link.js";
import { DEFAULT_RENEW_MARGIN_MS, loginOf, TokenKeeper } from "./token.js";
import { DEFAULT_TYPING_IDLE_MS, DEFAULT_TYPING_INTERVAL_MS, TypingNotifier } from "./typing.js";
import { hostWakeSignals } from "./wake.js";
/** The `ref` of a subscribe frame, followed by the conversation id, to match its error. */
const SUBSCRIBE_REF = "subscribe:";
export class LivedeskClient {
    typing;
    events = new Emitter();
    subscribed = new Set();
    connection;
    outbox;
    typingIntervalMs = DEFAULT_TYPING_INTERVAL_MS;
    constructor(options) {
        const clock = options.clock ?? systemClock;
        const random = options.random ?? Math.random;
        const tokens = new TokenKeeper(options.token, clock, options.renewMarginMs ?? DEFAULT_RENEW_MARGIN_MS);
        const rest = new RestClient(options.url, tokens, options.fetch ?? globalThis.fetch.bind(globalThis), options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
        const backoff = options.backoff ?? DEFAULT_BACKOFF;
        this.typing = new TypingNotifier((conversationId, state) => this.connection.send({ type: "typing", conversation_id: conversationId, state }), clock, () => this.typingIntervalMs, options.typingIdleMs ?? DEFAULT_TYPING_IDLE_MS);
        this.outbox = new Outbox({
            post: (item) => rest.request("POST", `/v1/conversations/${item.conversationId}/messages`, {
                content: item.content,
                kind: item.kind,
                client_id: item.clientId,
            }),
            changed: (event) => this.events.emit(event),
            sent: (event) => this.events.emit(event),
            clock,
            backoff: new Backoff(backoff, random),
        });
        const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
        if (WebSocketClass === undefined) {
            throw new TypeError("no WebSocket here (Node 20): pass `WebSocket` from the `ws` package");
        }
        const events = {
            deliver: (frame) => this.deliver(frame),
            state: (event) => this.events.emit(event),
            opened: (ready) => {
                this.typingIntervalMs = (ready.typing_interval_s ?? DEFAULT_TYPING_INTERVAL_MS / 1000) * 1000;
                this.typing.reset();
                for (const id of this.subscribed)
                    this.connection.send(this.subscribeFrame(id));
                this.outbox.flush();
            },
        };
        const socketUrl = options.socketUrl ?? socketUrlOf(options.url);
        const connect = (offsets, linkEvents) => new Connection({
            url: socketUrl,
            WebSocket: WebSocketClass,
            tokens,
            clock,
            random,
            backoff: new Backoff(backoff, random),
            heartbeat: options.heartbeat ?? DEFAULT_HEARTBEAT,
            connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
            drainJitterMs: options.drainJitterMs ?? DEFAULT_DRAIN_JITTER_MS,
            signals: options.signals ?? hostWakeSignals(),
            offsets,
            ...linkEvents,
        });
        const offsets = new OffsetTracker(options.resumeFrom);
        const host = options.tabs === false ? undefined : (options.tabs ?? hostTabs());
        this.connection =
            host === undefined
                ? connect(offsets, events)
                : new TabLink({
                    host,
                    // One lock per server and login: another login's tabs keep a socket of their own.
                    name: async () => {
                        const login = loginOf(await tokens.current());
                        return login === undefined ? undefined : `livedesk ${socketUrl} ${login}`;
                    },
                    offsets,
                    connect,
                    leading: () => this.events.emit({ type: "leader" }),
                    tab: tabId(),
                    ...events,
                });
        this.connection.start();
    }
    get state() {
        return this.connection.state;
    }
    /**
     * Whether this client holds the socket: always, unless tabs share one; then only in the
     * leader's tab, so that work done here (a desktop notification) happens once per browser.
     */
    get isLeader() {
        return this.connection.isLeader;
    }
    on(type, listener) {
        return this.events.on(type, listener);
    }
    off(type, listener) {
        this.events.off(type, listener);
    }
    once(type, listener) {
        return this.events.once(type, listener);
    }
    /** Resolves when the socket is open (at once if it is). */
    opened() {
        if (this.connection.state === "open")
            return Promise.resolve();
        return new Promise((resolve) => {
            const stop = this.events.on("state", (event) => {
                if (event.state !== "open")
                    return;
                stop();
                resolve();
            });
        });
    }
    /** The conversations this client asks for on every socket. */
    get subscriptions() {
        return this.subscribed;
    }
    /** Hear this conversation's typing; kept across reconnects until `unsubscribe`. */
    subscribe(conversationId) {
        this.subscribed.add(conversationId);
        this.connection.send(this.subscribeFrame(conversationId));
    }
    unsubscribe(conversationId) {
        this.subscribed.delete(conversationId);
        this.typing.stop(conversationId);
        this.connection.send({ type: "unsubscribe", conversation_id: conversationId });
    }
    /**
     * Send a message over REST, queued while it cannot be: resolves with the API's message once
     * written (exactly once), rejects if it fails for good (then it stays in `pending` as failed
     * until `retry` or `discard`). Ends the typing in that conversation.
     */
    sendMessage(conversationId, content, options = {}) {
        this.typing.stop(conversationId);
        const clientId = options.clientId ?? crypto.randomUUID();
        return this.outbox.add(conversationId, content, options.kind ?? "outgoing", clientId);
    }
    /** Messages not written yet, oldest first: pending, being sent, or failed. */
    get pending() {
        return this.outbox.items;
    }
    retry(clientId) {
        return this.outbox.retry(clientId);
    }
    discard(clientId) {
        return this.outbox.discard(clientId);
    }
    close() {
        this.connection.close();
    }
    subscribeFrame(conversationId) {
        return { type: "subscribe", conversation_id: conversationId, ref: `${SUBSCRIBE_REF}${conversationId}` };
    }
    deliver(frame) {
        // A conversation of another account stays refused: do not ask again on every reconnect.
        if (frame.type === "error" && frame.code === "forbidden" && typeof frame.ref === "string") {
            if (frame.ref.startsWith(SUBSCRIBE_REF)) {
                this.subscribed.delete(Number(frame.ref.slice(SUBSCRIBE_REF.length)));
            }
        }
        this.events.emit(frame);
    }
}
/** Start connecting; the client keeps its socket up until `close()`. */
export function connect(options) {
    return new LivedeskClient(options);
}
/** A name for this tab among the others (randomUUID needs an https page; this does not). */
function tabId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(12)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
function socketUrlOf(url) {
    const socket = new URL("/ws", url);
    socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
    return socket.toString();
}
