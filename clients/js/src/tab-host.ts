/**
 * What a browser offers for tabs to share one socket: the Web Locks API, to elect one tab
 * that holds the socket (the browser passes the lock on when that tab closes or crashes), and
 * a BroadcastChannel, for that tab to relay what the socket says and for the others to send
 * through it. Both are structural types, so that tests can pass a small fake of the locks.
 */

import type { StateEvent } from "./connection.js";
import type { ClientFrame, PersistentEvent, ReadyFrame, ServerFrame } from "./protocol.js";

export interface LockManagerLike {
  /** Calls `hold` once the lock is this tab's; the lock is held until its promise settles. */
  request(name: string, options: { signal: AbortSignal }, hold: () => Promise<void>): Promise<unknown>;
}

/** Checked both ways, as a method is: the browser's and Node's MessageEvent are richer. */
type Handler<E> = { handle(event: E): void }["handle"];

export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: Handler<{ data: unknown }> | null;
  close(): void;
}

export interface TabHost {
  locks: LockManagerLike;
  channel(name: string): ChannelLike;
}

interface HostGlobals {
  document?: unknown;
  navigator?: { locks?: LockManagerLike };
  BroadcastChannel?: new (name: string) => ChannelLike;
}

/**
 * The page's locks and channels, or undefined outside a page (Node, which grows Web Locks in
 * later versions, keeps a socket per client) or where either is missing (old browsers).
 */
export function hostTabs(host: HostGlobals = globalThis as HostGlobals): TabHost | undefined {
  const locks = host.navigator?.locks;
  const Channel = host.BroadcastChannel;
  if (host.document === undefined || locks === undefined || Channel === undefined) return undefined;
  return { locks, channel: (name) => new Channel(name) };
}

/**
 * What tabs say on the channel. From the leader: `leader` (I hold the socket now), `state`,
 * `frame` (every frame the socket delivered) and `welcome` (to one tab: the socket's state
 * the last offset any tab saw and the events after the tab's offset, none when they are gone). From the others: `hello`
 * (I am here, with this offset), `send` (put this frame on the socket) and `bye`.
 */
export type TabMessage =
  | { kind: "leader"; tab: string }
  | { kind: "state"; event: StateEvent }
  | { kind: "frame"; frame: ServerFrame }
  | {
      kind: "welcome";
      to: string;
      state: StateEvent | undefined;
      ready: ReadyFrame | undefined;
      latest: number | undefined;
      events: PersistentEvent[] | undefined;
    }
  | { kind: "hello"; tab: string; offset: number | undefined }
  | { kind: "send"; tab: string; frame: ClientFrame }
  | { kind: "bye"; tab: string };

const KINDS: ReadonlySet<string> = new Set<TabMessage["kind"]>(["leader", "state", "frame", "welcome", "hello", "send", "bye"]);

/** A message from another tab, or null for what this version does not know. */
export function parseTabMessage(data: unknown): TabMessage | null {
  if (typeof data !== "object" || data === null || !("kind" in data)) return null;
  return KINDS.has(String(data.kind)) ? (data as TabMessage) : null;
}
