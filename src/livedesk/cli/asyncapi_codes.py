"""The words the AsyncAPI document says about each close code and error code of /ws.

Keyed by protocol.py's own constants, and checked against them: `close_codes_table` and
`error_codes_list` raise when the gateway names a code this module does not explain (or
explains one it no longer names), so a new code cannot reach the document unexplained.

Deliberately not here: the document's structure (asyncapi.py).
"""

from __future__ import annotations

from typing import Final

from livedesk.gateway import protocol

# What each close means and what a client does about it.
CLOSE_CODES: Final = {
    protocol.CLOSE_GOING_AWAY: (
        "going away: the node drains (a `reconnect` frame came first)",
        "reconnect after a random delay of up to a second, to any node, and resume",
    ),
    protocol.CLOSE_MESSAGE_TOO_BIG: (
        "a frame over four times `max_frame_bytes` (256 KiB; standalone: 16 MiB), refused "
        "before it is read",
        "a client bug: fix the frame; reconnect with back-off and resume",
    ),
    protocol.CLOSE_INTERNAL_ERROR: (
        "an internal error closed this socket only, or the peer left a keepalive ping unanswered",
        "reconnect with back-off and resume",
    ),
    protocol.CLOSE_TRY_AGAIN_LATER: (
        "try again later: the node is at capacity, or cannot reach the API for this account",
        "reconnect with back-off (another node may serve it) and resume",
    ),
    protocol.CLOSE_UNAUTHENTICATED: (
        "not authenticated: the first frame was not `auth`, or the token is invalid or "
        "expired (reason `token_expired`)",
        "`token_expired`: get a fresh token and reconnect; otherwise stop and sign in again",
    ),
    protocol.CLOSE_FORBIDDEN: (
        "forbidden: a renewal named another user or account, or repeated subscriptions to "
        "conversations of another account",
        "stop: retrying cannot help",
    ),
    protocol.CLOSE_AUTH_TIMEOUT: (
        "no `auth` within `auth_timeout_s` (10 s) of opening",
        "reconnect with back-off, sending `auth` first",
    ),
    protocol.CLOSE_TOO_SLOW: (
        "too slow to read: the socket's send queue went over its bound (frames, bytes or lag)",
        "reconnect and resume: nothing is lost",
    ),
    protocol.CLOSE_RATE_LIMITED: (
        "rate limited: too many frames, bad frames or typing frames, or too many sockets "
        "for this user or account (after an `error` frame `too_many_sockets`)",
        "reconnect after a long back-off; open fewer sockets, send fewer frames",
    ),
}

# What each `error` frame's code means. The socket stays open unless a close follows.
ERROR_CODES: Final = {
    protocol.ERR_TOO_LARGE: "the frame is over the size limit",
    protocol.ERR_NOT_JSON: "the frame is not JSON",
    protocol.ERR_NOT_OBJECT: "the frame is not a JSON object",
    protocol.ERR_UNKNOWN_TYPE: "the frame's `type` is not one of the client frames",
    protocol.ERR_INVALID: "a field is missing or wrong (the message names it)",
    protocol.ERR_NOT_AUTHENTICATED: "the first frame was not `auth` (4401 follows)",
    protocol.ERR_FORBIDDEN: "the conversation is not the account's (4403 after three), or a "
    "renewal named another user or account (4403 follows)",
    protocol.ERR_TOO_MANY_SUBSCRIPTIONS: "the socket holds `max_subscriptions` (200) already",
    protocol.ERR_NOT_SUBSCRIBED: "`typing` in a conversation the socket is not subscribed to",
    protocol.ERR_RATE_LIMITED: "typing frames come too often",
    protocol.ERR_UNAVAILABLE: "the node cannot reach the API now: try again shortly (after "
    "`auth`, 1013 follows)",
    protocol.ERR_TOO_MANY_SOCKETS: "the user or account has too many sockets on this node "
    "(4429 follows)",
    "token_expired": "the token has expired: on `auth`, 4401 follows; on a renewal the socket "
    "keeps its current token",
    "token_invalid": "the token is not valid (4401 follows the first `auth`)",
}
# TokenError codes a socket can be told about (tokens.py; its `token_key` is about key files).
TOKEN_ERROR_CODES: Final = ("token_expired", "token_invalid")


def _constants(prefix: str) -> set[object]:
    return {value for name, value in vars(protocol).items() if name.startswith(prefix)}


def _check(named: set[object], explained: set[object], what: str) -> None:
    if named != explained:
        missing, stale = sorted(map(str, named - explained)), sorted(map(str, explained - named))
        raise LookupError(f"{what}: unexplained {missing}, no longer named {stale}")


def close_codes_table() -> str:
    """A Markdown table of every close code the gateway names."""
    _check(_constants("CLOSE_"), set(CLOSE_CODES), "close codes")
    rows = [f"| {code} | {meaning} | {action} |" for code, (meaning, action) in CLOSE_CODES.items()]
    return "\n".join(["| code | meaning | what a client does |", "|---|---|---|", *rows])


def error_codes_list() -> str:
    """A Markdown list of every code an `error` frame carries."""
    named = _constants("ERR_") | set(TOKEN_ERROR_CODES)
    _check(named, set(ERROR_CODES), "error codes")
    return "\n".join(f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES.items())
