"""The delivery and confirm splitter, bytes in and bytes out: the frames are pamqp's own, so
what it takes is what the broker sends and what it passes on is what aiormq would have read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import aiormq.abc
import pamqp.frame
import pytest
from pamqp import commands as spec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pamqp.heartbeat import Heartbeat

from livedesk.shared.bus.rabbit.fast.amqp_frames import (
    HEARTBEAT,
    KEEPALIVE_S,
    ConfirmRoute,
    FrameSplitter,
    Route,
)

CHANNEL, TAG = 3, "livedesk.consumer"
PUBLISHER = 5  # the channel whose confirms are taken
Taken = tuple[str, str, bytes, bool, int, str | None]
Confirm = tuple[int, bool, bool]  # delivery tag, multiple, acked


@dataclass
class _Channel:
    """What a route reads of its aiormq channel."""

    number: int = CHANNEL
    is_closed: bool = False


class Splitter:
    def __init__(self, channel: _Channel | None = None, publisher: _Channel | None = None) -> None:
        self.channel = channel or _Channel()
        self.publisher = publisher or _Channel(number=PUBLISHER)
        self.taken: list[Taken] = []
        self.confirms: list[Confirm] = []
        self.blocked: list[bool] = []
        route = Route(cast(aiormq.abc.AbstractChannel, self.channel), TAG, self.take)
        confirms = ConfirmRoute(cast(aiormq.abc.AbstractChannel, self.publisher), self.confirm)
        self.splitter = FrameSplitter({CHANNEL: route}, {PUBLISHER: confirms}, self.blocked.append)

    def take(
        self, exchange: str, key: str, body: bytes, redelivered: bool, tag: int, user: str | None
    ) -> None:
        self.taken.append((exchange, key, body, redelivered, tag, user))

    def confirm(self, tag: int, multiple: bool, acked: bool) -> None:
        self.confirms.append((tag, multiple, acked))

    def feed(self, data: bytes, now_s: float = 0.0) -> bytes:
        return self.splitter.feed(data, now_s)


def frames(*parts: tuple[Frame | ContentHeader | ContentBody | Heartbeat, int]) -> bytes:
    return b"".join(pamqp.frame.marshal(frame, channel) for frame, channel in parts)


def delivery(
    tag: int,
    body: bytes,
    *,
    channel: int = CHANNEL,
    consumer: str = TAG,
    redelivered: bool = False,
    frame_max: int = 4096,
    properties: spec.Basic.Properties | None = None,
) -> bytes:
    deliver = spec.Basic.Deliver(
        consumer_tag=consumer,
        delivery_tag=tag,
        redelivered=redelivered,
        exchange="livedesk.events",
        routing_key="acct.1.conv.2.new_message",
    )
    header = ContentHeader(0, len(body), properties or spec.Basic.Properties(delivery_mode=2))
    chunks = [body[i : i + frame_max] for i in range(0, len(body), frame_max)]
    return frames(
        (deliver, channel), (header, channel), *((ContentBody(c), channel) for c in chunks)
    )


def unmarshal_all(data: bytes) -> list[tuple[int, object]]:
    out: list[tuple[int, object]] = []
    while data:
        used, channel, frame = pamqp.frame.unmarshal(data)
        out.append((channel, frame))
        data = data[used:]
    return out


def test_a_routed_delivery_is_taken_whole() -> None:
    s = Splitter()
    assert s.feed(delivery(7, b'{"x":1}', redelivered=True)) == b""
    assert s.taken == [
        ("livedesk.events", "acct.1.conv.2.new_message", b'{"x":1}', True, 7, None),
    ]


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param(spec.Basic.Properties(user_id="livedesk-api"), id="alone"),
        pytest.param(
            spec.Basic.Properties(
                content_type="application/json", delivery_mode=2, user_id="livedesk-api"
            ),
            id="as the buses publish",
        ),
        pytest.param(
            spec.Basic.Properties(
                content_type="application/json",
                content_encoding="utf-8",
                headers={"x-a": "b", "n": 7},
                delivery_mode=2,
                priority=3,
                correlation_id="c",
                reply_to="r",
                expiration="1000",
                message_id="m",
                timestamp=datetime(2026, 1, 2, tzinfo=UTC),
                message_type="t",
                user_id="livedesk-api",
                app_id="app",
                cluster_id="",
            ),
            id="after every other property",
        ),
    ],
)
def test_the_user_id_comes_with_the_delivery(properties: spec.Basic.Properties) -> None:
    s = Splitter()
    assert s.feed(delivery(7, b"{}", properties=properties)) == b""
    assert [t[5] for t in s.taken] == ["livedesk-api"]


def test_a_user_name_is_utf_8() -> None:
    s = Splitter()
    properties = spec.Basic.Properties(content_type="x", delivery_mode=1, user_id="agnès")
    assert s.feed(delivery(1, b"{}", properties=properties)) == b""
    assert [t[5] for t in s.taken] == ["agnès"]


def test_bytes_cut_anywhere_give_the_same_deliveries() -> None:
    stream = delivery(1, b"a" * 300) + delivery(2, b"b" * 10_000, frame_max=4000)
    for cut in range(1, 40):
        s = Splitter()
        passed = b"".join(s.feed(stream[i : i + cut]) for i in range(0, len(stream), cut))
        assert passed == b""
        assert [(t[2], t[4]) for t in s.taken] == [(b"a" * 300, 1), (b"b" * 10_000, 2)]


def test_an_empty_body_is_handed_over_at_its_header() -> None:
    s = Splitter()
    assert s.feed(delivery(1, b"")) == b""
    assert [t[2] for t in s.taken] == [b""]


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(delivery(1, b"x", consumer="someone.else"), id="another consumer"),
        pytest.param(delivery(1, b"x", channel=CHANNEL + 1), id="an unrouted channel"),
        pytest.param(frames((spec.Basic.ConsumeOk(TAG), CHANNEL)), id="a method"),
        pytest.param(frames((spec.Basic.Cancel(TAG), CHANNEL)), id="a broker cancel"),
    ],
)
def test_what_is_not_a_routed_delivery_goes_on_unchanged(other: bytes) -> None:
    s = Splitter()
    assert s.feed(other) == other
    assert s.taken == []


def test_a_closed_channel_keeps_nothing() -> None:
    s = Splitter(_Channel(is_closed=True))
    stream = delivery(1, b"x")
    assert s.feed(stream) == stream
    assert s.taken == []


def test_frames_of_other_channels_pass_in_order_around_a_delivery() -> None:
    whole = delivery(9, b"payload")
    deliver_end = whole.index(b"\xce") + 1
    ack = frames((spec.Basic.Ack(delivery_tag=4), CHANNEL + 1))
    beat = frames((Heartbeat(), 0))
    s = Splitter()
    passed = s.feed(ack + whole[:deliver_end] + beat + whole[deliver_end:] + ack)
    assert passed == ack + beat + ack
    assert [t[4] for t in s.taken] == [9]
    assert [type(f) for _, f in unmarshal_all(passed)] == [
        spec.Basic.Ack,
        Heartbeat,
        spec.Basic.Ack,
    ]


def test_a_heartbeat_goes_on_while_only_deliveries_come() -> None:
    # aiormq counts a connection with no frame for three heartbeat intervals as stuck.
    s = Splitter()
    assert s.feed(delivery(1, b"x"), now_s=10.0) == HEARTBEAT
    assert s.feed(delivery(2, b"x"), now_s=10.0 + KEEPALIVE_S / 2) == b""
    assert s.feed(delivery(3, b"x"), now_s=10.0 + KEEPALIVE_S) == HEARTBEAT
    assert [(channel, type(f)) for channel, f in unmarshal_all(HEARTBEAT)] == [(0, Heartbeat)]


def test_a_partial_frame_sends_no_heartbeat() -> None:
    s = Splitter()
    assert s.feed(delivery(1, b"x")[:5], now_s=100.0) == b""


def test_a_callback_that_raises_is_logged_and_the_next_delivery_still_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Splitter()
    calls: list[int] = []

    def fail_once(
        exchange: str, key: str, body: bytes, redelivered: bool, tag: int, user: str | None
    ) -> None:
        calls.append(tag)
        if tag == 1:
            raise RuntimeError("handler bug")

    splitter = FrameSplitter(
        {CHANNEL: Route(cast(aiormq.abc.AbstractChannel, s.channel), TAG, fail_once)},
        {},
        s.blocked.append,
    )
    with caplog.at_level(logging.ERROR):
        assert splitter.feed(delivery(1, b"x") + delivery(2, b"y"), 0.0) == b""
    assert calls == [1, 2]
    assert "consumer callback failed" in caplog.text


def test_what_is_not_a_frame_goes_on_as_it_came() -> None:
    # A broker that refuses our protocol version answers with its own protocol header.
    refusal = b"AMQP\x00\x00\x09\x01"
    s = Splitter()
    assert s.feed(refusal) == b""  # could be the start of a long frame
    assert s.splitter.flush() == refusal  # the stream ended: aiormq reads and reports it


def test_a_bad_frame_end_stops_the_splitting() -> None:
    bad = bytearray(delivery(1, b"x"))
    bad[bad.index(b"\xce")] = 0
    s = Splitter()
    assert s.feed(bytes(bad)) == bytes(bad)
    later = delivery(2, b"y")
    assert s.feed(later) == later
    assert s.taken == []


def test_the_broker_blocking_the_connection_is_seen_and_still_reaches_aiormq() -> None:
    s = Splitter()
    blocked = frames((spec.Connection.Blocked("low on memory"), 0))
    unblocked = frames((spec.Connection.Unblocked(), 0))
    stream = blocked + delivery(1, b"x") + unblocked
    passed = b"".join(s.feed(stream[at : at + 5]) for at in range(0, len(stream), 5))
    assert s.blocked == [True, False]
    assert passed == blocked + unblocked
    assert [t[2] for t in s.taken] == [b"x"]


def ack(tag: int, *, multiple: bool = False, channel: int = PUBLISHER) -> bytes:
    return frames((spec.Basic.Ack(delivery_tag=tag, multiple=multiple), channel))


def nack(tag: int, *, multiple: bool = False, channel: int = PUBLISHER) -> bytes:
    return frames((spec.Basic.Nack(delivery_tag=tag, multiple=multiple, requeue=True), channel))


def test_confirms_on_the_publisher_channel_are_taken() -> None:
    s = Splitter()
    stream = ack(1) + ack(3, multiple=True) + nack(4) + nack(9, multiple=True) + ack(2**40)
    assert s.feed(stream) == b""
    assert s.confirms == [
        (1, False, True),
        (3, True, True),
        (4, False, False),
        (9, True, False),
        (2**40, False, True),
    ]


def test_confirms_cut_anywhere_give_the_same_confirms() -> None:
    stream = (
        ack(1)
        + frames((spec.Basic.Return(312, "NO_ROUTE", "x", "k"), PUBLISHER))
        + ack(7, multiple=True)
        + nack(8)
    )
    expected = Splitter()
    whole = expected.feed(stream)
    for cut in range(1, len(stream)):
        s = Splitter()
        passed = s.feed(stream[:cut]) + s.feed(stream[cut:])
        assert passed == whole
        assert (
            s.confirms
            == expected.confirms
            == [(1, False, True), (7, True, True), (8, False, False)]
        )


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(ack(1, channel=PUBLISHER + 1), id="an ack on an untracked channel"),
        pytest.param(ack(1, channel=CHANNEL), id="an ack on a consumer's channel"),
        pytest.param(
            frames((spec.Channel.Close(404, "NOT_FOUND", 60, 40), PUBLISHER)), id="a close"
        ),
        pytest.param(frames((spec.Basic.QosOk(), PUBLISHER)), id="an rpc reply"),
        pytest.param(
            frames((spec.Basic.Return(312, "NO_ROUTE", "x", "k"), PUBLISHER)), id="a return"
        ),
    ],
)
def test_what_is_not_a_tracked_confirm_goes_on_unchanged(other: bytes) -> None:
    s = Splitter()
    assert s.feed(other) == other
    assert s.confirms == []


def test_a_closed_publisher_channel_takes_no_confirm() -> None:
    s = Splitter(publisher=_Channel(number=PUBLISHER, is_closed=True))
    assert s.feed(ack(1)) == ack(1)
    assert s.confirms == []


def test_confirms_and_deliveries_interleaved_on_their_channels() -> None:
    whole = delivery(9, b"payload")
    deliver_end = whole.index(b"\xce") + 1
    close_ok = frames((spec.Channel.CloseOk(), PUBLISHER + 1))
    s = Splitter()
    passed = s.feed(
        ack(1) + whole[:deliver_end] + ack(2) + close_ok + whole[deliver_end:] + nack(3)
    )
    assert passed == close_ok
    assert [t[4] for t in s.taken] == [9]
    assert s.confirms == [(1, False, True), (2, False, True), (3, False, False)]


def test_a_heartbeat_goes_on_while_only_confirms_come() -> None:
    s = Splitter()
    assert s.feed(ack(1), now_s=10.0) == HEARTBEAT
    assert s.feed(ack(2), now_s=10.0 + KEEPALIVE_S / 2) == b""
    assert s.feed(ack(3), now_s=10.0 + KEEPALIVE_S) == HEARTBEAT


def test_a_confirm_callback_that_raises_is_logged_and_the_next_confirm_still_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def fail_once(tag: int, multiple: bool, acked: bool) -> None:
        calls.append(tag)
        if tag == 1:
            raise RuntimeError("tracker bug")

    publisher = cast(aiormq.abc.AbstractChannel, _Channel(number=PUBLISHER))
    blocked: list[bool] = []
    splitter = FrameSplitter({}, {PUBLISHER: ConfirmRoute(publisher, fail_once)}, blocked.append)
    with caplog.at_level(logging.ERROR):
        assert splitter.feed(ack(1) + ack(2), 0.0) == b""
    assert calls == [1, 2]
    assert "confirm callback failed" in caplog.text
