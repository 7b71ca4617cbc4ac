"""The bytes of a batch of publishes on one channel: every message's frames, in order.

Why not `Channel.basic_publish` per message: each call takes the channel's lock and puts its
frames on the connection's write queue, which holds 10 items. A batch of a few hundred
then stalls on the full queue while holding the lock, and every message after the tenth
costs a turn of the event loop for the lock to pass on, which a relay sharing its loop with
a busy API feels (figures in docs/adr/0001-fast-publish-path.md). Why not pamqp's marshalling:
it builds three objects per message and walks their fields generically; the three frames
of a publish are a fixed layout that `struct` packs in a few steps. The bytes are pamqp's
own to the byte (tests/unit/test_batch_publish.py compares them), so the broker sees what
aiormq would have sent, without the message-id aiormq adds and nothing reads.

Sans-I/O: who writes the bytes and counts the confirms is `publish_confirms`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit.fast.amqp_frames import (
    FRAME_BODY,
    FRAME_END,
    FRAME_HEAD,
    FRAME_HEADER,
    FRAME_METHOD,
)

_END = bytes([FRAME_END])
# Basic.Publish (class 60, method 40), then reserved-1 (the old ticket, a short).
_PUBLISH_HEAD = struct.pack(">HHH", 60, 40, 0)
_PUBLISH_BITS = b"\x00"  # neither mandatory nor immediate
# Content header: class, weight (always 0), body size, property flags.
_HEADER = struct.Struct(">HHQH")
_CONTENT_TYPE, _DELIVERY_MODE, _USER_ID = 0x8000, 0x1000, 0x0010
_JSON = b"application/json"
_FLAGS = _CONTENT_TYPE | _DELIVERY_MODE


def encode_batch(
    channel: int, frame_body_max: int, messages: Sequence[Message], user_id: str | None = None
) -> bytes:
    """The frames of every message, bodies cut at `frame_body_max` bytes (frame_max - 8),
    each carrying `user_id` (the broker refuses one that is not the connection's user)."""
    # Properties in flag order: content-type (short string), delivery-mode (octet), user-id
    # (short string); the same for every message but their delivery mode.
    user = b"" if user_id is None else _short_string(user_id)
    flags = _FLAGS if user_id is None else _FLAGS | _USER_ID
    properties = {
        persistent: bytes([len(_JSON)]) + _JSON + bytes([2 if persistent else 1]) + user
        for persistent in (True, False)
    }
    parts: list[bytes] = []
    append = parts.append
    for message in messages:
        exchange = _short_string(message.exchange)
        routing_key = _short_string(message.routing_key)
        body = message.body
        size = len(body)
        publish_size = len(_PUBLISH_HEAD) + len(exchange) + len(routing_key) + len(_PUBLISH_BITS)
        append(FRAME_HEAD.pack(FRAME_METHOD, channel, publish_size))
        append(_PUBLISH_HEAD)
        append(exchange)
        append(routing_key)
        append(_PUBLISH_BITS + _END)
        message_properties = properties[message.persistent]
        append(FRAME_HEAD.pack(FRAME_HEADER, channel, _HEADER.size + len(message_properties)))
        append(_HEADER.pack(60, 0, size, flags))
        append(message_properties + _END)
        for at in range(0, size, frame_body_max):
            chunk = body[at : at + frame_body_max]
            append(FRAME_HEAD.pack(FRAME_BODY, channel, len(chunk)))
            append(chunk)
            append(_END)
    return b"".join(parts)


def _short_string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise ValueError(f"longer than an AMQP short string: {text[:40]!r}...")
    return bytes([len(data)]) + data
