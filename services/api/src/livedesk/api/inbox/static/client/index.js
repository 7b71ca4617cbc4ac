/** @livedesk/client: the public surface. */
export { DEFAULT_BACKOFF } from "./backoff.js";
export { connect, LivedeskClient, } from "./client.js";
export { DiscardedError } from "./outbox.js";
export * from "./protocol.js";
export { ApiError } from "./rest.js";
