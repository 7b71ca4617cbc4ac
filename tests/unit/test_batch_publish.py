"""The batch encoder writes, byte for byte, what pamqp marshals for the same publishes (what
aiormq's basic_publish sent, less the message-id it adds and nothing reads)."""

from __future__ import annotations

import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit.fast.batch_publish import encode_batch

CHANNEL, BODY_MAX = 7, 131_064  # frame_max 131072, less a body frame's 8 bytes


def pamqp_batch(
    channel: int, body_max: int, messages: list[Message], user_id: str | None = None
) -> bytes:
    frames: list[object] = []
    for message in messages:
        body = message.body
        frames.append(
            spec.Basic.Publish(exchange=message.exchange, routing_key=message.routing_key)
        )
        properties = spec.Basic.Properties(
            delivery_mode=2 if message.persistent else 1,
            content_type="application/json",
            user_id=user_id,
        )
        frames.append(ContentHeader(properties=properties, body_size=len(body)))
        frames.extend(ContentBody(body[at : at + body_max]) for at in range(0, len(body), body_max))
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(
            [Message("livedesk.events", "acct.1.conv.2.new_message", b'{"a":1}')], id="one"
        ),
        pytest.param(
            [
                Message("livedesk.events", f"acct.{i}.conv.{i}.new_message", b"x" * i)
                for i in range(50)
            ],
            id="many, one empty",
        ),
        pytest.param(
            [Message("livedesk.ephemeral", "acct.1.typing", b"{}", persistent=False)],
            id="transient",
        ),
        pytest.param([Message("livedesk.events", "k", b"y" * 300_000)], id="split body"),
        pytest.param([Message("livedesk.events", "é" * 100, b"z")], id="utf-8 key"),
    ],
)
def test_the_bytes_are_pamqps(messages: list[Message]) -> None:
    assert encode_batch(CHANNEL, BODY_MAX, messages) == pamqp_batch(CHANNEL, BODY_MAX, messages)


@pytest.mark.parametrize("user_id", ["livedesk-api", "é" * 10])
def test_the_user_id_is_pamqps(user_id: str) -> None:
    messages = [
        Message("livedesk.events", "acct.1.conv.2.new_message", b"{}"),
        Message("livedesk.ephemeral", "acct.1.typing", b"{}", persistent=False),
    ]
    expected = pamqp_batch(CHANNEL, BODY_MAX, messages, user_id)
    assert encode_batch(CHANNEL, BODY_MAX, messages, user_id) == expected


def test_a_body_is_cut_at_the_frame_size() -> None:
    messages = [Message("livedesk.events", "k", bytes(range(256)) * 10)]
    assert encode_batch(CHANNEL, 100, messages) == pamqp_batch(CHANNEL, 100, messages)


def test_a_key_too_long_for_amqp_is_refused() -> None:
    with pytest.raises(ValueError, match="short string"):
        encode_batch(CHANNEL, BODY_MAX, [Message("livedesk.events", "k" * 256, b"")])
