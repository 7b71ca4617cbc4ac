"""The WebSocket protocol of /ws, sans-I/O: client frames in, validated commands out.

It parses and validates what a client sends (auth, subscribe, unsubscribe, typing, ping), turns
every malformed frame into a `FrameError` carrying a stable code and the frame's `ref` when one
could be read, builds the control frames the server sends (ready, subscribed, pong, error,
resync_required, reconnect) and names every close code. Events themselves are not built here:
they arrive already encoded from the broker or the replay endpoint and go out byte for byte.

Deliberately not here: sockets, time, rate limits and state (session.py), routing (fanout.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from livedesk.gateway import frames
from livedesk.gateway.frames import MAX_ID, MAX_REF_CHARS
from livedesk.shared.events import TypingState

# Close codes (docs/design.md). 1001 is the standard "going away"; the 44xx mirror HTTP statuses.
CLOSE_GOING_AWAY: Final = 1001
# Sent by the websockets library, not by this code: a frame over the transport's limit
# (main.py: a multiple of max_frame_bytes) is refused before it is buffered.
CLOSE_MESSAGE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013  # the node cannot serve the account now (API unreachable)
CLOSE_UNAUTHENTICATED: Final = 4401
REVOKED: Final = "session revoked"  # the reason of a 4401: logout, disabled, revoked by admin
CLOSE_FORBIDDEN: Final = 4403
CLOSE_AUTH_TIMEOUT: Final = 4408
CLOSE_TOO_SLOW: Final = 4409
CLOSE_RATE_LIMITED: Final = 4429

# Error codes carried by `error` frames.
ERR_TOO_LARGE: Final = "frame_too_large"
ERR_NOT_JSON: Final = "invalid_json"
ERR_NOT_OBJECT: Final = "not_an_object"
ERR_UNKNOWN_TYPE: Final = "unknown_type"
ERR_INVALID: Final = "invalid_frame"
ERR_NOT_AUTHENTICATED: Final = "not_authenticated"
ERR_FORBIDDEN: Final = "forbidden"
ERR_TOO_MANY_SUBSCRIPTIONS: Final = "too_many_subscriptions"
ERR_NOT_SUBSCRIBED: Final = "not_subscribed"
ERR_RATE_LIMITED: Final = "rate_limited"
ERR_UNAVAILABLE: Final = "unavailable"
ERR_TOO_MANY_SOCKETS: Final = "too_many_sockets"

Ref = str | int | None


class FrameError(Exception):
    """A frame the server answers with an `error` frame; the socket stays open."""

    def __init__(self, code: str, message: str, ref: Ref = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.ref = code, message, ref


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    resume_from: int | None
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    conversation_id: int
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    conversation_id: int
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class TypingFrame:
    conversation_id: int
    state: TypingState
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Ping:
    ref: Ref = None


ClientFrame = Auth | Subscribe | Unsubscribe | TypingFrame | Ping


def parse_frame(raw: str | bytes, max_bytes: int) -> ClientFrame:
    """Validate one client frame; raise `FrameError` naming what is wrong."""
    if len(raw) > max_bytes:
        raise FrameError(ERR_TOO_LARGE, f"frame of {len(raw)} bytes exceeds {max_bytes}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FrameError(ERR_NOT_JSON, "frame is not JSON") from None
    except RecursionError:
        # A valid frame is a flat object; `[[[...` a few thousand deep, well under the size
        # limit, exhausts the decoder's stack instead.
        raise FrameError(ERR_INVALID, "frame is nested too deeply") from None
    if not isinstance(data, dict):
        raise FrameError(ERR_NOT_OBJECT, "frame is not a JSON object")
    ref = _ref(data.get("ref"))
    kind = data.get("type")
    try:
        if kind == "ping":
            return Ping(ref)
        if kind == "subscribe":
            return Subscribe(_id(data, "conversation_id"), ref)
        if kind == "unsubscribe":
            return Unsubscribe(_id(data, "conversation_id"), ref)
        if kind == "typing":
            return TypingFrame(_id(data, "conversation_id"), _typing_state(data), ref)
        if kind == "auth":
            return Auth(_token(data), _resume_from(data), ref)
    except FrameError as error:
        error.ref = ref
        raise
    raise FrameError(ERR_UNKNOWN_TYPE, f"unknown frame type {_shown(kind)}", ref)


def _ref(value: Any) -> Ref:
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_REF_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID:
        return value
    # A bad ref cannot be echoed, so the error frame goes without one.
    raise FrameError(ERR_INVALID, f"ref must be a string of at most {MAX_REF_CHARS} or an int")


def _id(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise FrameError(ERR_INVALID, f"{field} must be a positive integer")
    return value


def _typing_state(data: dict[str, Any]) -> TypingState:
    state = data.get("state")
    if state not in ("start", "stop"):
        raise FrameError(ERR_INVALID, "state must be 'start' or 'stop'")
    return TypingState(state)


def _token(data: dict[str, Any]) -> str:
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise FrameError(ERR_INVALID, "token must be a non-empty string")
    return token


def _resume_from(data: dict[str, Any]) -> int | None:
    value = data.get("resume_from")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise FrameError(ERR_INVALID, "resume_from must be a non-negative integer")
    return value


def _shown(kind: Any) -> str:
    text = json.dumps(kind)
    return text if len(text) <= 40 else text[:37] + "..."


# Server -> client control frames, built from their models (frames.py). Compact JSON, built
# per socket: they are rare.


def _frame(frame: frames.ServerFrame) -> bytes:
    payload = frame.model_dump(mode="json")
    # The ref goes last, and only when there is one.
    if (ref := payload.pop("ref")) is not None:
        payload["ref"] = ref
    return json.dumps(payload, separators=(",", ":")).encode()


def ready(
    node: str,
    account_id: int,
    user_id: int,
    offset: int,
    typing_interval_s: float,
    ref: Ref = None,
) -> bytes:
    return _frame(
        frames.Ready(
            node=node,
            account_id=account_id,
            user_id=user_id,
            offset=offset,
            typing_interval_s=typing_interval_s,
            ref=ref,
        )
    )


def auth_renewed(expires_at: float, ref: Ref = None) -> bytes:
    """The reply to an `auth` on a live socket: its new token is in force until `expires_at`."""
    return _frame(frames.AuthRenewed(expires_at=int(expires_at), ref=ref))


def subscribed(conversation_id: int, typing: list[int], ref: Ref = None) -> bytes:
    return _frame(frames.Subscribed(conversation_id=conversation_id, typing=typing, ref=ref))


def unsubscribed(conversation_id: int, ref: Ref = None) -> bytes:
    return _frame(frames.Unsubscribed(conversation_id=conversation_id, ref=ref))


def pong(offset: int | None, ref: Ref = None) -> bytes:
    """`offset`: the account's latest offset this node knows; a client behind it resumes."""
    return _frame(frames.Pong(offset=offset, ref=ref))


def error(code: str, message: str, ref: Ref = None) -> bytes:
    return _frame(frames.Error(code=code, message=message, ref=ref))


def resync_required(offset: int, message: str) -> bytes:
    """Events before `offset` cannot be replayed; everything after it follows on this socket."""
    return _frame(frames.ResyncRequired(offset=offset, message=message))


def reconnect(message: str) -> bytes:
    return _frame(frames.Reconnect(message=message))
