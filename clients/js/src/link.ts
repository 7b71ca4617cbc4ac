/**
 * What the client needs of "the connection", whoever holds the socket: this tab's own
 * `Connection`, or a `TabLink` that shares one socket among the tabs of a login. The client
 * wires subscriptions, typing and the outbox to a `Link` and cannot tell which it has.
 */

import type { ConnectionState, StateEvent } from "./connection.js";
import type { ClientFrame, ReadyFrame, ServerFrame } from "./protocol.js";

/** What a link tells the client. */
export interface LinkEvents {
  /** Every frame the app should see, persistent ones once each and in offset order. */
  deliver(frame: ServerFrame): void;
  state(event: StateEvent): void;
  /** A socket is authenticated: send what a new socket must know (subscriptions). */
  opened(ready: ReadyFrame): void;
}

export interface Link {
  readonly state: ConnectionState | undefined;
  /** Whether this client holds the socket (always, unless tabs share one). */
  readonly isLeader: boolean;
  start(): void;
  /** Send a frame on the authenticated socket; false if there is none now. */
  send(frame: ClientFrame): boolean;
  /** Close for good: no more tries, no more events. */
  close(): void;
}
