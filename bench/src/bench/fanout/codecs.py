"""The two wire protocols the load generator speaks, sans-I/O: text frames in, decisions out.

Engine.IO v4 / Socket.IO v5 over a plain WebSocket (what python-socketio serves at
`/socket.io/?EIO=4&transport=websocket`): the server opens with `0{...}`, the client connects
to the default namespace with `40{auth}`, the server answers `40{"sid":...}` (or `44{...}`
refused), events are `42["name",data]`, and the server's ping `2` must be answered with `3`.

Livedesk (docs/design.md): the client sends `{"type":"auth","token":...,"resume_from":N}` first,
the server answers `ready` with the account's offset, persistent events (their types are
livedesk.shared.events', not listed again here) carry `offset` and `ts` (commit time), control
frames carry `type`.

Both parsers reduce a frame to a `Frame`: what kind it is, the sequence number the ledger
checks (Livedesk's offset, the peer's per-account `seq` that our publisher puts in its
payload), the publish/commit time for latency, and the reply to send, if any.
Deliberately not here: sockets, clocks, statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final

from pydantic_core import from_json

from livedesk.shared.events import PERSISTENT_TYPES

SOCKETIO_PATH: Final = "/socket.io/?EIO=4&transport=websocket"
LIVEDESK_PATH: Final = "/ws"

# Engine.IO packet types (first character) and Socket.IO packet types (second).
EIO_OPEN: Final = "0"
EIO_CLOSE: Final = "1"
EIO_PING: Final = "2"
EIO_PONG: Final = "3"
EIO_MESSAGE: Final = "4"
SIO_CONNECT: Final = "0"
SIO_DISCONNECT: Final = "1"
SIO_EVENT: Final = "2"
SIO_CONNECT_ERROR: Final = "4"


class Kind(Enum):
    OPEN = "open"  # transport open (engine.io handshake): send the connect/auth frame
    LIVE = "live"  # authenticated: socket.io connect ack, Livedesk `ready`
    EVENT = "event"  # an event the ledger counts
    PING = "ping"  # answer with `reply`
    CONTROL = "control"  # anything else the server may send (pong, presence, typing...)
    REFUSED = "refused"  # connect error, `error` frame, `resync_required`
    CLOSE = "close"  # the server says goodbye inside the protocol


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    seq: int = -1  # offset / per-account seq of an EVENT; the offset of a LIVE `ready`
    ts: float = 0.0  # publish/commit time of an EVENT, epoch seconds
    reply: str | None = None
    name: str = ""  # event or control type, for reports and errors


class CodecError(ValueError):
    """A frame the codec cannot make sense of: the load generator counts it and goes on."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SocketIOCodec:
    """Engine.IO v4 + Socket.IO v5, default namespace, text frames only."""

    path: Final = SOCKETIO_PATH

    @staticmethod
    def connect_frame(auth: dict[str, Any]) -> str:
        return EIO_MESSAGE + SIO_CONNECT + _compact(auth)

    @staticmethod
    def event_frame(name: str, data: Any) -> str:
        """What the server sends for `emit(name, data)`: for tests and the peer's own check."""
        return EIO_MESSAGE + SIO_EVENT + _compact([name, data])

    @staticmethod
    def parse(text: str | bytes) -> Frame:
        if isinstance(text, bytes):
            text = text.decode()
        if not text:
            raise CodecError("empty engine.io packet")
        eio = text[0]
        if eio == EIO_MESSAGE:
            return SocketIOCodec._socketio(text[1:])
        if eio == EIO_PING:
            return Frame(Kind.PING, reply=EIO_PONG + text[1:], name="ping")
        if eio == EIO_OPEN:
            return Frame(Kind.OPEN, name="open")
        if eio == EIO_CLOSE:
            return Frame(Kind.CLOSE, name="close")
        if eio in "356":  # pong, upgrade, noop: nothing to do over a plain websocket
            return Frame(Kind.CONTROL, name=f"eio{eio}")
        raise CodecError(f"unknown engine.io packet type {eio!r}")

    @staticmethod
    def _socketio(packet: str) -> Frame:
        if not packet:
            raise CodecError("empty socket.io packet")
        kind, body = packet[0], packet[1:]
        if kind == SIO_EVENT:
            if body.startswith("/"):
                raise CodecError("events of other namespaces are not expected")
            try:
                name, data = from_json(body)[:2]
                return Frame(Kind.EVENT, seq=int(data["seq"]), ts=float(data["ts"]), name=name)
            except (ValueError, TypeError, KeyError) as error:
                raise CodecError(f"bad socket.io event: {error}") from None
        if kind == SIO_CONNECT:
            return Frame(Kind.LIVE, name="connect")
        if kind == SIO_CONNECT_ERROR:
            return Frame(Kind.REFUSED, name=f"connect_error {body[:80]}")
        if kind == SIO_DISCONNECT:
            return Frame(Kind.CLOSE, name="disconnect")
        return Frame(Kind.CONTROL, name=f"sio{kind}")


class LivedeskCodec:
    """Livedesk's /ws protocol: JSON objects with `type`."""

    path: Final = LIVEDESK_PATH

    @staticmethod
    def auth_frame(token: str, resume_from: int | None = None) -> str:
        frame: dict[str, Any] = {"type": "auth", "token": token}
        if resume_from is not None:
            frame["resume_from"] = resume_from
        return _compact(frame)

    @staticmethod
    def ping_frame(ref: int | str | None = None) -> str:
        return _compact({"type": "ping"} if ref is None else {"type": "ping", "ref": ref})

    @staticmethod
    def parse(text: str | bytes) -> Frame:
        try:
            frame = from_json(text)
        except ValueError:
            raise CodecError("livedesk frame is not JSON") from None
        if not isinstance(frame, dict) or not isinstance(kind := frame.get("type"), str):
            raise CodecError("livedesk frame is not an object with a type")
        try:
            if kind in PERSISTENT_TYPES:
                return Frame(
                    Kind.EVENT, seq=int(frame["offset"]), ts=parse_ts(frame["ts"]), name=kind
                )
            if kind == "ready":
                return Frame(Kind.LIVE, seq=int(frame["offset"]), name=kind)
        except (KeyError, ValueError, TypeError) as error:
            raise CodecError(f"bad {kind} frame: {error!r}") from None
        if kind in ("error", "resync_required"):
            return Frame(Kind.REFUSED, name=f"{kind} {frame.get('code', '')}".strip())
        return Frame(Kind.CONTROL, name=kind)


def parse_ts(value: Any) -> float:
    """An event's `ts` (ISO 8601, as pydantic writes datetimes) as epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"ts is neither a number nor a string: {value!r}")
    return datetime.fromisoformat(value).timestamp()
