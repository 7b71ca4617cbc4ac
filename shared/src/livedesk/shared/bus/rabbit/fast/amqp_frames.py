"""Taking deliveries and publisher confirms out of the AMQP byte stream before aiormq parses it.

`FrameSplitter` sits between the socket and aiormq, bytes in and bytes out: the three frames
of a routed delivery (Basic.Deliver, content header, body) and the confirms of a registered
channel (Basic.Ack, Basic.Nack) are parsed with `struct` and handed over at once; every other
frame goes on to aiormq untouched and in order, Connection.Blocked and Unblocked included
(seen on their way, `on_blocked`). A route is taken only while its aiormq channel is open. A
delivery may reach its consumer before a control frame that preceded it reaches aiormq (a
ConsumeOk, say), which is harmless: the broker sends nothing on a channel after closing it.
While frames are taken here, a heartbeat frame goes on to aiormq every `KEEPALIVE_S`, since
aiormq counts a connection as stuck when no frame reached it for three heartbeats.

Why, and what it relies on: docs/adr/0001-fast-publish-path.md.
Not here: sockets (`transport`), acks (`consumer`), what a confirm settles
(`publish_confirms`).
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import aiormq.abc

log = logging.getLogger(__name__)

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
# Frame: type (octet), channel (short), payload size (long), payload, end octet.
FRAME_HEAD = struct.Struct(">BHI")
_FRAME_OVERHEAD = FRAME_HEAD.size + 1
# Basic.Deliver is method 60 of class 60; the two shorts open its payload.
_BASIC_DELIVER = struct.pack(">HH", 60, 60)
_DELIVERY_TAG = struct.Struct(">QB")  # delivery-tag (longlong), then the redelivered bit
# Basic.Ack (60, 80) and Basic.Nack (60, 120): delivery-tag, then a bit octet whose lowest
# bit is `multiple` (Nack's next bit, `requeue`, means nothing to a publisher).
_BASIC_ACK = struct.pack(">HH", 60, 80)
_BASIC_NACK = struct.pack(">HH", 60, 120)
_CONFIRM_SIZE = 4 + _DELIVERY_TAG.size
# Connection.Blocked (10, 60; a reason follows) and Connection.Unblocked (10, 61), channel 0.
_CONNECTION_BLOCKED = struct.pack(">HH", 10, 60)
_CONNECTION_UNBLOCKED = struct.pack(">HH", 10, 61)
# Content header: class (short), weight (short), body size (longlong), property flags
# (short), then the properties present, in flag order.
_BODY_SIZE = struct.Struct(">Q")
_BODY_SIZE_AT = 4
_FLAGS = struct.Struct(">H")
_FLAGS_AT = 12
_TABLE_SIZE = struct.Struct(">I")
_USER_ID = 0x0010
# What the buses' publishes carry (`batch_publish`, aio-pika's Message): content-type,
# delivery-mode, user-id.
_OUR_FLAGS = 0x8000 | 0x1000 | _USER_ID
# The Basic properties before user-id, as (flag, size): a fixed size in bytes, or SHORT_STRING
# (a length octet, then the bytes) or TABLE (a long length, then the bytes).
SHORT_STRING, TABLE = -1, -2
_BEFORE_USER_ID = (
    (0x8000, SHORT_STRING),  # content-type
    (0x4000, SHORT_STRING),  # content-encoding
    (0x2000, TABLE),  # headers
    (0x1000, 1),  # delivery-mode
    (0x0800, 1),  # priority
    (0x0400, SHORT_STRING),  # correlation-id
    (0x0200, SHORT_STRING),  # reply-to
    (0x0100, SHORT_STRING),  # expiration
    (0x0080, SHORT_STRING),  # message-id
    (0x0040, 8),  # timestamp
    (0x0020, SHORT_STRING),  # type
)
HEARTBEAT = FRAME_HEAD.pack(FRAME_HEARTBEAT, 0, 0) + bytes([FRAME_END])
# aiormq's stuck-connection check allows three heartbeat intervals of silence; its default
# interval is 60 s. One heartbeat a second costs nothing next to hundreds of deliveries.
KEEPALIVE_S = 1.0

# exchange, routing key, body, redelivered, delivery tag, user id (None: the publisher set none)
DeliveryCallback = Callable[[str, str, bytes, bool, int, str | None], None]
# delivery tag, multiple, acked (False: nacked)
ConfirmCallback = Callable[[int, bool, bool], None]
# True on Connection.Blocked, False on Connection.Unblocked
BlockedCallback = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class Route:
    """Deliveries on `channel` for the consumer `tag` go to `deliver`."""

    channel: aiormq.abc.AbstractChannel
    tag: str
    deliver: DeliveryCallback


@dataclass(frozen=True, slots=True)
class ConfirmRoute:
    """Publisher confirms on `channel` go to `confirm`."""

    channel: aiormq.abc.AbstractChannel
    confirm: ConfirmCallback


@dataclass(slots=True)
class _Content:
    route: Route
    exchange: str
    routing_key: str
    redelivered: bool
    delivery_tag: int
    body_size: int = -1  # unknown until the content header
    user_id: str | None = None  # from the content header
    parts: list[bytes] = field(default_factory=list)
    received: int = 0


class FrameSplitter:
    """Bytes from the broker in, the bytes aiormq should see out; routed deliveries taken."""

    def __init__(
        self,
        routes: dict[int, Route],
        confirms: dict[int, ConfirmRoute],
        on_blocked: BlockedCallback,
    ) -> None:
        # Channel number -> route; shared with whoever adds and removes routes.
        self._routes = routes
        self._confirms = confirms
        self._on_blocked = on_blocked
        self._buffer = bytearray()
        self._content: dict[int, _Content] = {}  # channel -> delivery being received
        self._last_passed_s = 0.0
        # Set on anything that is not an AMQP frame (a refused protocol header): from then
        # on every byte goes to aiormq as it came, and aiormq reports the error.
        self._bypass = False

    def feed(self, data: bytes, now_s: float) -> bytes:
        """Take the deliveries complete in `data` (with what came before); return the rest."""
        if self._bypass:
            return data
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        out: list[bytes] = []
        start = passed_from = 0
        while size - start >= FRAME_HEAD.size:
            kind, channel, length = FRAME_HEAD.unpack_from(buffer, start)
            end = start + length + _FRAME_OVERHEAD
            if end > size:
                break
            if buffer[end - 1] != FRAME_END:
                self._bypass = True
                start = size
                break
            if self._take(kind, channel, buffer, start + FRAME_HEAD.size, end - 1):
                if passed_from < start:
                    out.append(bytes(buffer[passed_from:start]))
                passed_from = end
            start = end
        if passed_from < start:
            out.append(bytes(buffer[passed_from:start]))
        del buffer[:start]
        if out:
            self._last_passed_s = now_s
        elif passed_from and now_s - self._last_passed_s >= KEEPALIVE_S:
            out.append(HEARTBEAT)
            self._last_passed_s = now_s
        return b"".join(out)

    def flush(self) -> bytes:
        """What is left at the end of the stream, for aiormq to report as cut short."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        self._content.clear()
        return rest

    def _take(self, kind: int, channel: int, frame: bytearray, start: int, end: int) -> bool:
        content = self._content.get(channel)
        if content is None:
            if kind != FRAME_METHOD:
                return False
            if channel == 0:
                self._connection_method(frame, start)
                return False  # aiormq keeps its own record of blocked too
            return self._confirm(channel, frame, start, end) or self._start(
                channel, frame, start, end
            )
        if kind == FRAME_HEADER:
            (content.body_size,) = _BODY_SIZE.unpack_from(frame, start + _BODY_SIZE_AT)
            content.user_id = user_id(frame, start)
        elif kind == FRAME_BODY and content.body_size >= 0:
            content.parts.append(bytes(frame[start:end]))
            content.received += end - start
        else:
            # Not what AMQP allows inside a delivery's content: let aiormq see it and
            # complain; the delivery is lost to this path, and the channel with it.
            log.error("frame type %d inside a delivery on channel %d", kind, channel)
            del self._content[channel]
            return False
        if 0 <= content.body_size <= content.received:
            del self._content[channel]
            self._hand_over(content)
        return True

    def _connection_method(self, frame: bytearray, start: int) -> None:
        method = frame[start : start + 4]
        if method in (_CONNECTION_BLOCKED, _CONNECTION_UNBLOCKED):
            try:
                self._on_blocked(method == _CONNECTION_BLOCKED)
            except Exception:
                log.exception("blocked callback failed")

    def _start(self, channel: int, frame: bytearray, start: int, end: int) -> bool:
        route = self._routes.get(channel)
        if route is None or frame[start : start + 4] != _BASIC_DELIVER or route.channel.is_closed:
            return False
        at = start + 4
        tag, at = _short_string(frame, at)
        if tag != route.tag:
            return False
        delivery_tag, bits = _DELIVERY_TAG.unpack_from(frame, at)
        exchange, at = _short_string(frame, at + _DELIVERY_TAG.size)
        routing_key, at = _short_string(frame, at)
        if at != end:
            return False  # not the Deliver this parser knows: aiormq's turn
        redelivered = bool(bits & 1)
        self._content[channel] = _Content(route, exchange, routing_key, redelivered, delivery_tag)
        return True

    def _confirm(self, channel: int, frame: bytearray, start: int, end: int) -> bool:
        route = self._confirms.get(channel)
        if route is None or end - start != _CONFIRM_SIZE or route.channel.is_closed:
            return False
        method = frame[start : start + 4]
        if method == _BASIC_ACK:
            acked = True
        elif method == _BASIC_NACK:
            acked = False
        else:
            return False
        delivery_tag, bits = _DELIVERY_TAG.unpack_from(frame, start + 4)
        try:
            route.confirm(delivery_tag, bool(bits & 1), acked)
        except Exception:
            log.exception("confirm callback failed")
        return True

    @staticmethod
    def _hand_over(content: _Content) -> None:
        parts = content.parts
        body = parts[0] if len(parts) == 1 else b"".join(parts)  # b"" for an empty body
        try:
            content.route.deliver(
                content.exchange,
                content.routing_key,
                body,
                content.redelivered,
                content.delivery_tag,
                content.user_id,
            )
        except Exception:
            # As aiormq does with a consumer task that failed: say it, keep the connection.
            log.exception("consumer callback failed")


def user_id(header: bytearray | bytes, start: int = 0) -> str | None:
    """The user-id property of the content header whose payload starts at `start`."""
    (flags,) = _FLAGS.unpack_from(header, start + _FLAGS_AT)
    if not flags & _USER_ID:
        return None
    at = start + _FLAGS_AT + _FLAGS.size
    if flags == _OUR_FLAGS:  # every delivery of ours: skip content-type and delivery-mode
        at += 2 + header[at]
    else:
        for flag, size in _BEFORE_USER_ID:
            if flags & flag:
                if size == SHORT_STRING:
                    at += 1 + header[at]
                elif size == TABLE:
                    at += _TABLE_SIZE.size + _TABLE_SIZE.unpack_from(header, at)[0]
                else:
                    at += size
    return _user_name(bytes(header[at + 1 : at + 1 + header[at]]))


# A consumer hears from a handful of users: each name is decoded once.
_user_name = functools.lru_cache(maxsize=64)(bytes.decode)


def _short_string(frame: bytearray | bytes, at: int) -> tuple[str, int]:
    length = frame[at]
    return frame[at + 1 : at + 1 + length].decode(), at + 1 + length
