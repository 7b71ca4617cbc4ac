/**
 * The frames of Livedesk's WebSocket (docs/design.md, "External contract"): what the client
 * sends, what the server sends, and the close codes. Types and names only; what the client
 * does with them is in connection.ts.
 */
/** Close codes the server uses (docs/design.md); 1006 is the browser's "dropped, no close". */
export const CloseCode = {
    goingAway: 1001,
    abnormal: 1006,
    internalError: 1011,
    tryAgainLater: 1013,
    unauthenticated: 4401,
    forbidden: 4403,
    authTimeout: 4408,
    tooSlow: 4409,
    rateLimited: 4429,
};
/** The close reason of a 4401 that a fresh token cures (the gateway's session.py). */
export const TOKEN_EXPIRED = "token_expired";
/**
 * The server frame types this client knows. A record keyed by the unions above, so the
 * compiler refuses a type added there and forgotten here; tests/unit/test_event_declaration.py
 * checks these against the server's declarations.
 */
const PERSISTENT_TYPES = {
    new_message: true,
    new_conversation: true,
    conversation_updated: true,
    message_read: true,
};
const KNOWN_TYPES = {
    ...PERSISTENT_TYPES,
    typing: true,
    agent_status: true,
    presence_state: true,
    ready: true,
    subscribed: true,
    unsubscribed: true,
    pong: true,
    error: true,
    resync_required: true,
    reconnect: true,
    auth_renewed: true,
};
/**
 * One text frame from the server, or null for what this client does not know: a type added
 * to the contract after it was built ("additions are welcome") is skipped, not an error.
 * The server is trusted for the shape of the frames it names.
 */
export function parseServerFrame(text) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return null;
    }
    if (typeof value !== "object" || value === null || !("type" in value))
        return null;
    const type = value.type;
    return typeof type === "string" && Object.hasOwn(KNOWN_TYPES, type) ? value : null;
}
/** The offset of a persistent event, or undefined for control and ephemeral frames. */
export function persistentOffset(frame) {
    return Object.hasOwn(PERSISTENT_TYPES, frame.type) ? frame.offset : undefined;
}
