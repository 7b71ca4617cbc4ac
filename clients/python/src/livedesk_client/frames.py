"""The frames of Livedesk's /ws protocol as this client writes and reads them.

Client frames are built as compact JSON text. Server frames are parsed into dicts: control
frames (`ready`, `subscribed`, `pong`, `error`, ...) by their type, events (persistent ones
carry `offset` and `data`, ephemeral ones neither) by everything else, so an event type added
on the server reaches `*` handlers without a new client release.

Deliberately not here: validating events field by field (the server's models do that before
anything is sent), sockets.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

Frame = dict[str, Any]
TypingState = Literal["start", "stop"]

CONTROL_TYPES: Final = frozenset(
    {
        "ready",
        "subscribed",
        "unsubscribed",
        "pong",
        "error",
        "resync_required",
        "reconnect",
        "auth_renewed",
    }
)


class ProtocolError(Exception):
    """The server sent something that is not a frame of this protocol."""


def _text(frame: Frame) -> str:
    return json.dumps(frame, separators=(",", ":"))


def auth(token: str, resume_from: int | None = None) -> str:
    frame: Frame = {"type": "auth", "token": token}
    if resume_from is not None:
        frame["resume_from"] = resume_from
    return _text(frame)


def subscribe(conversation_id: int) -> str:
    return _text({"type": "subscribe", "conversation_id": conversation_id})


def unsubscribe(conversation_id: int) -> str:
    return _text({"type": "unsubscribe", "conversation_id": conversation_id})


def typing(conversation_id: int, state: TypingState) -> str:
    return _text({"type": "typing", "conversation_id": conversation_id, "state": state})


def ping() -> str:
    return _text({"type": "ping"})


def parse(raw: str | bytes) -> Frame:
    """One server frame as a dict with a string `type`."""
    try:
        frame = json.loads(raw)
    except ValueError:
        raise ProtocolError("the server sent a frame that is not JSON") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ProtocolError("the server sent a frame that is not an object with a type")
    return frame


def is_event(frame: Frame) -> bool:
    return frame["type"] not in CONTROL_TYPES


def offset_of(frame: Frame) -> int | None:
    """The offset of a persistent event; None for ephemeral events and control frames."""
    offset = frame.get("offset")
    if is_event(frame) and isinstance(offset, int) and not isinstance(offset, bool):
        return offset
    return None
