"""Taking deliveries and publisher confirms out of the AMQP byte stream before aiormq parses it.

aiormq turns every frame into a pamqp object, queues it for the channel's reader task, and
starts a task per message for the consumer; for a gateway node that receives about one
message per wake-up, that machinery cost more CPU than everything else a delivery does
(py-spy, bench.gateway_bench sparse). `FrameSplitter` sits between the socket and aiormq:
bytes in, bytes out. The three frames of a delivery for a routed consumer (Basic.Deliver,
its content header, its body) are parsed here with `struct` and handed to the route's
callback at once. Publisher confirms (Basic.Ack, Basic.Nack) on a channel registered for
them are parsed the same way and handed to that channel's tracker (`publish_confirms`): for
a relay sharing its loop with a busy API, aiormq's reader task, its future per message and
the gather over them cost three turns of the loop per batch. Connection.Blocked and
Connection.Unblocked are seen on their way (`on_blocked`), so that publishers wait while the
broker does not read (`write_gate`). Every other frame goes on to aiormq untouched, in order,
those two included.

Kept as aiormq would have it: a Deliver for a channel or consumer tag with no route, and its
content, go on to aiormq (the consumer's own callback, registered with basic_consume, takes
it there). A route, or a confirm route, is taken only while its aiormq channel is open, so
nothing is handed over for a channel aiormq has closed. aiormq counts a connection as stuck
when no frame has reached it for three heartbeat intervals, and the broker sends no
heartbeat while it sends deliveries or confirms: while frames are taken here, a heartbeat
frame goes on to aiormq at least every `KEEPALIVE_S`, as if the broker had sent it.

Deliveries are handed over as their last frame arrives, so one may reach its consumer
before a control frame that came before it in the stream reaches aiormq's reader (a
ConsumeOk, say); the broker sends nothing on a channel after its Channel.Close, so no
delivery can overtake the close of its own channel.

A confirm handed over ahead of an earlier control frame is harmless for the same reason: the
channel's close reaches the tracker through aiormq, after every confirm the broker sent.

Not here: sockets (`transport`), acks (the route's channel, `consumer`), what a
confirm settles (`publish_confirms`).
Checked against aiormq 7.2.4 and pamqp 4.0.1 (uv.lock); the wire format is AMQP 0-9-1's.
"""

from __future__ import annotations

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
# Content header: class (short), weight (short), body size (longlong), then properties.
_BODY_SIZE = struct.Struct(">Q")
_BODY_SIZE_AT = 4
HEARTBEAT = FRAME_HEAD.pack(FRAME_HEARTBEAT, 0, 0) + bytes([FRAME_END])
# aiormq's stuck-connection check allows three heartbeat intervals of silence; its default
# interval is 60 s. One heartbeat a second costs nothing next to hundreds of deliveries.
KEEPALIVE_S = 1.0

# exchange, routing key, body, redelivered, delivery tag
DeliveryCallback = Callable[[str, str, bytes, bool, int], None]
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
            )
        except Exception:
            # As aiormq does with a consumer task that failed: say it, keep the connection.
            log.exception("consumer callback failed")


def _short_string(frame: bytearray, at: int) -> tuple[str, int]:
    length = frame[at]
    return frame[at + 1 : at + 1 + length].decode(), at + 1 + length
