/**
 * What the client needs of "the connection", whoever holds the socket: this tab's own
 * `Connection`, or a `TabLink` that shares one socket among the tabs of a login. The client
 * wires subscriptions, typing and the outbox to a `Link` and cannot tell which it has.
 */
export {};
