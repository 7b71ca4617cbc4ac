/**
 * `connect()`: the client an app holds. It puts together the connection (socket, resume,
 * heartbeat, back-off; shared with the other tabs of the login where the browser can), the
 * conversations it is subscribed to, the typing notifier and the queue of messages to send,
 * and gives the app one place to listen.
 */

import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
import { type Clock, type Random, systemClock } from "./clock.js";
import {
  Connection,
  type ConnectionState,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DRAIN_JITTER_MS,
  DEFAULT_HEARTBEAT,
  type HeartbeatOptions,
  type SocketConstructor,
  type StateEvent,
} from "./connection.js";
import { Emitter, type EventOf, type Listener } from "./emitter.js";
import type { Link, LinkEvents } from "./link.js";
import { OffsetTracker } from "./offsets.js";
import { Outbox, type OutboxEvent, type Outgoing, type SentEvent } from "./outbox.js";
import type { ClientFrame, Message, MessageKind, ServerFrame } from "./protocol.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, type Fetch, RestClient } from "./rest.js";
import { hostTabs, type TabHost } from "./tab-host.js";
import { TabLink } from "./tab-link.js";
import { DEFAULT_RENEW_MARGIN_MS, loginOf, TokenKeeper, type TokenProvider } from "./token.js";
import { DEFAULT_TYPING_IDLE_MS, DEFAULT_TYPING_INTERVAL_MS, TypingNotifier } from "./typing.js";
import { hostWakeSignals, type WakeSignals } from "./wake.js";

export interface ClientOptions {
  /** Where the API answers, e.g. `https://support.example.com` (REST under `/v1`). */
  url: string;
  /** The WebSocket's URL; by default `/ws` on `url` with the ws(s) scheme. */
  socketUrl?: string;
  /** Returns an access token; asked again before it expires and after the server says so. */
  token: TokenProvider;
  /** The last offset the app's state includes (from a REST page's `offset`): resume after it. */
  resumeFrom?: number;
  /** Node 20 has none built in: pass `WebSocket` from the `ws` package. */
  WebSocket?: SocketConstructor;
  fetch?: Fetch;
  backoff?: BackoffOptions;
  heartbeat?: HeartbeatOptions;
  connectTimeoutMs?: number;
  drainJitterMs?: number;
  renewMarginMs?: number;
  requestTimeoutMs?: number;
  typingIdleMs?: number;
  /** By default the browser's online/offline/visibilitychange, none in Node. */
  signals?: WakeSignals;
  /**
   * How the tabs of one login share one socket: by default the browser's Web Locks and
   * BroadcastChannel where it has both; `false`, or a host without them, gives this client a
   * socket of its own.
   */
  tabs?: TabHost | false;
  clock?: Clock;
  random?: Random;
}

/** Every event a listener can get, by type: the server's frames and the client's own. */
export type EventMap = { [F in ServerFrame as F["type"]]: F } & {
  state: StateEvent;
  outbox: OutboxEvent;
  sent: SentEvent;
  leader: LeaderEvent;
};

/** This client holds the socket now (its tab was elected): run once-per-browser work here. */
export interface LeaderEvent {
  type: "leader";
}
export type ClientEvent = EventMap[keyof EventMap];

/** The `ref` of a subscribe frame, followed by the conversation id, to match its error. */
const SUBSCRIBE_REF = "subscribe:";

export interface SendOptions {
  kind?: MessageKind;
  /** Reuse one to make a send the same message as an earlier one; by default a new UUID. */
  clientId?: string;
}

export class LivedeskClient {
  readonly typing: TypingNotifier;
  private readonly events = new Emitter<EventMap>();
  private readonly subscribed = new Set<number>();
  private readonly connection: Link;
  private readonly outbox: Outbox;
  private typingIntervalMs = DEFAULT_TYPING_INTERVAL_MS;

  constructor(options: ClientOptions) {
    const clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    const tokens = new TokenKeeper(options.token, clock, options.renewMarginMs ?? DEFAULT_RENEW_MARGIN_MS);
    const rest = new RestClient(
      options.url,
      tokens,
      options.fetch ?? globalThis.fetch.bind(globalThis),
      options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    );
    const backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.typing = new TypingNotifier(
      (conversationId, state) => this.connection.send({ type: "typing", conversation_id: conversationId, state }),
      clock,
      () => this.typingIntervalMs,
      options.typingIdleMs ?? DEFAULT_TYPING_IDLE_MS,
    );
    this.outbox = new Outbox({
      post: (item) =>
        rest.request<Message>("POST", `/v1/conversations/${item.conversationId}/messages`, {
          content: item.content,
          kind: item.kind,
          client_id: item.clientId,
        }),
      changed: (event) => this.events.emit(event),
      sent: (event) => this.events.emit(event),
      clock,
      backoff: new Backoff(backoff, random),
    });
    const WebSocketClass = options.WebSocket ?? (globalThis.WebSocket as SocketConstructor | undefined);
    if (WebSocketClass === undefined) {
      throw new TypeError("no WebSocket here (Node 20): pass `WebSocket` from the `ws` package");
    }
    const events: LinkEvents = {
      deliver: (frame) => this.deliver(frame),
      state: (event) => this.events.emit(event),
      opened: (ready) => {
        this.typingIntervalMs = (ready.typing_interval_s ?? DEFAULT_TYPING_INTERVAL_MS / 1000) * 1000;
        this.typing.reset();
        for (const id of this.subscribed) this.connection.send(this.subscribeFrame(id));
        this.outbox.flush();
      },
    };
    const socketUrl = options.socketUrl ?? socketUrlOf(options.url);
    const connect = (offsets: OffsetTracker, linkEvents: LinkEvents): Connection =>
      new Connection({
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

  get state(): ConnectionState | undefined {
    return this.connection.state;
  }

  /**
   * Whether this client holds the socket: always, unless tabs share one; then only in the
   * leader's tab, so that work done here (a desktop notification) happens once per browser.
   */
  get isLeader(): boolean {
    return this.connection.isLeader;
  }

  on<K extends keyof EventMap | "*">(type: K, listener: Listener<EventOf<EventMap, K>>): () => void {
    return this.events.on(type, listener);
  }

  off<K extends keyof EventMap | "*">(type: K, listener: Listener<EventOf<EventMap, K>>): void {
    this.events.off(type, listener);
  }

  once<K extends keyof EventMap | "*">(type: K, listener: Listener<EventOf<EventMap, K>>): () => void {
    return this.events.once(type, listener);
  }

  /** Resolves when the socket is open (at once if it is). */
  opened(): Promise<void> {
    if (this.connection.state === "open") return Promise.resolve();
    return new Promise((resolve) => {
      const stop = this.events.on("state", (event) => {
        if (event.state !== "open") return;
        stop();
        resolve();
      });
    });
  }

  /** The conversations this client asks for on every socket. */
  get subscriptions(): ReadonlySet<number> {
    return this.subscribed;
  }

  /** Hear this conversation's typing; kept across reconnects until `unsubscribe`. */
  subscribe(conversationId: number): void {
    this.subscribed.add(conversationId);
    this.connection.send(this.subscribeFrame(conversationId));
  }

  unsubscribe(conversationId: number): void {
    this.subscribed.delete(conversationId);
    this.typing.stop(conversationId);
    this.connection.send({ type: "unsubscribe", conversation_id: conversationId });
  }

  /**
   * Send a message over REST, queued while it cannot be: resolves with the API's message once
   * written (exactly once), rejects if it fails for good (then it stays in `pending` as failed
   * until `retry` or `discard`). Ends the typing in that conversation.
   */
  sendMessage(conversationId: number, content: string, options: SendOptions = {}): Promise<Message> {
    this.typing.stop(conversationId);
    const clientId = options.clientId ?? crypto.randomUUID();
    return this.outbox.add(conversationId, content, options.kind ?? "outgoing", clientId);
  }

  /** Messages not written yet, oldest first: pending, being sent, or failed. */
  get pending(): readonly Outgoing[] {
    return this.outbox.items;
  }

  retry(clientId: string): Promise<Message> {
    return this.outbox.retry(clientId);
  }

  discard(clientId: string): boolean {
    return this.outbox.discard(clientId);
  }

  close(): void {
    this.connection.close();
  }

  private subscribeFrame(conversationId: number): ClientFrame {
    return { type: "subscribe", conversation_id: conversationId, ref: `${SUBSCRIBE_REF}${conversationId}` };
  }

  private deliver(frame: ServerFrame): void {
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
export function connect(options: ClientOptions): LivedeskClient {
  return new LivedeskClient(options);
}

/** A name for this tab among the others (randomUUID needs an https page; this does not). */
function tabId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function socketUrlOf(url: string): string {
  const socket = new URL("/ws", url);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
  return socket.toString();
}
