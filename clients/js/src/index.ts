/** @livedesk/client: the public surface. */

export { type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
export {
  type ClientEvent,
  type ClientOptions,
  connect,
  type EventMap,
  type LeaderEvent,
  LivedeskClient,
  type SendOptions,
} from "./client.js";
export type { Clock, Random, TimerId } from "./clock.js";
export type {
  ConnectionState,
  HeartbeatOptions,
  SocketConstructor,
  SocketLike,
  StateEvent,
} from "./connection.js";
export type { EventOf, Listener } from "./emitter.js";
export { DiscardedError, type OutboxEvent, type Outgoing, type OutgoingStatus, type SentEvent } from "./outbox.js";
export * from "./protocol.js";
export { ApiError } from "./rest.js";
export type { ChannelLike, LockManagerLike, TabHost } from "./tab-host.js";
export type { TokenProvider, TokenReason } from "./token.js";
export type { TypingNotifier } from "./typing.js";
export type { WakeSignal, WakeSignals } from "./wake.js";
