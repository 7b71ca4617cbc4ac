"""The confirm tracker, without a socket: batches are numbered on from the channel's count,
written whole, and settled by the confirms the splitter hands over, single or multiple."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

import aiormq
import pytest

from livedesk.shared.bus.rabbit.fast.publish_confirms import ConfirmTracker
from livedesk.shared.bus.rabbit.fast.write_gate import WriteGate
from livedesk.shared.errors import BusError


@dataclass
class _Channel:
    """What the tracker reads and moves on of aiormq's channel."""

    loop: asyncio.AbstractEventLoop
    delivery_tag: int = 0
    publisher_confirms: bool = True
    is_closed: bool = False


@dataclass
class _Transport:
    writes: list[bytes] = field(default_factory=list)
    closing: bool = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing


class Tracked:
    def __init__(self, delivery_tag: int = 0) -> None:
        self.channel = _Channel(asyncio.get_running_loop(), delivery_tag)
        self.transport = _Transport()
        self.gate = WriteGate()
        self.tracker = ConfirmTracker(
            cast(aiormq.Channel, self.channel),
            cast(asyncio.WriteTransport, self.transport),
            self.gate,
        )

    def send(self, count: int, payload: bytes = b"frames") -> asyncio.Future[None]:
        return self.tracker.send(payload, count)


async def test_a_batch_is_one_write_numbered_on_from_the_channels_count() -> None:
    t = Tracked(delivery_tag=4)  # aiormq published four before
    first, second = t.send(3), t.send(2)
    assert t.transport.writes == [b"frames", b"frames"]
    assert t.channel.delivery_tag == 9
    t.tracker.confirm(7, multiple=True, acked=True)
    assert first.done()
    assert not second.done()
    t.tracker.confirm(9, multiple=True, acked=True)
    assert second.done()
    assert first.result() is None
    assert second.result() is None


async def test_single_acks_in_any_order_settle_a_batch_once_all_are_in() -> None:
    t = Tracked()
    batch = t.send(3)
    for tag in (3, 1):
        t.tracker.confirm(tag, multiple=False, acked=True)
        assert not batch.done()
    t.tracker.confirm(2, multiple=False, acked=True)
    assert batch.done()
    assert batch.result() is None


async def test_a_multiple_ack_counts_the_single_acks_before_it_once() -> None:
    t = Tracked()
    first, second = t.send(2), t.send(4)  # tags 1-2 and 3-6
    t.tracker.confirm(4, multiple=False, acked=True)
    t.tracker.confirm(6, multiple=False, acked=True)
    t.tracker.confirm(3, multiple=True, acked=True)  # 1-3: the first batch, half the second
    assert first.done()
    assert not second.done()
    t.tracker.confirm(5, multiple=False, acked=True)
    assert second.done()
    assert second.result() is None


async def test_a_later_batch_may_settle_before_an_earlier_one() -> None:
    t = Tracked()
    first, second = t.send(1), t.send(1)
    t.tracker.confirm(2, multiple=False, acked=True)
    assert second.done()
    assert not first.done()
    t.tracker.confirm(1, multiple=False, acked=True)
    assert first.done()


@pytest.mark.parametrize("multiple", [False, True])
async def test_a_nack_fails_its_batch_and_spares_the_next(multiple: bool) -> None:
    t = Tracked()
    refused, spared = t.send(2), t.send(1)
    t.tracker.confirm(2, multiple=multiple, acked=False)
    with pytest.raises(BusError, match="refused"):
        refused.result()
    t.tracker.confirm(3, multiple=False, acked=True)
    assert spared.result() is None


async def test_a_partial_multiple_nack_fails_the_whole_batch() -> None:
    t = Tracked()
    batch = t.send(3)
    t.tracker.confirm(1, multiple=True, acked=False)
    with pytest.raises(BusError):
        batch.result()
    t.tracker.confirm(3, multiple=True, acked=True)  # the rest of it: nothing left to settle


async def test_a_closed_channel_fails_what_is_in_flight_and_refuses_more() -> None:
    t = Tracked()
    batch = t.send(2)
    reason = aiormq.exceptions.ChannelClosed(None, None)
    t.tracker.fail(reason)
    with pytest.raises(ConnectionError) as raised:
        batch.result()
    assert raised.value.__cause__ is reason
    with pytest.raises(ConnectionError):
        t.send(1)
    assert len(t.transport.writes) == 1


@pytest.mark.parametrize("what", ["channel", "socket"])
async def test_nothing_is_written_once_the_channel_or_socket_closes(what: str) -> None:
    t = Tracked()
    if what == "channel":
        t.channel.is_closed = True
    else:
        t.transport.closing = True
    with pytest.raises(ConnectionError):
        t.send(1)
    assert t.transport.writes == []
    assert t.channel.delivery_tag == 0


async def test_a_confirm_for_a_batch_given_up_is_dropped() -> None:
    t = Tracked()
    given_up, next_batch = t.send(1), t.send(1)
    given_up.cancel()  # its publisher timed out
    t.tracker.confirm(2, multiple=True, acked=True)
    assert next_batch.result() is None


async def test_what_is_held_for_the_broker_is_the_batches_not_settled_yet() -> None:
    t = Tracked()
    first, second = t.send(2, b"x" * 100), t.send(1, b"y" * 30)
    assert t.tracker.unconfirmed_bytes == 130
    t.tracker.confirm(2, multiple=True, acked=True)
    assert first.done()
    assert t.tracker.unconfirmed_bytes == 30
    t.tracker.fail(None)
    assert second.done()
    assert t.tracker.unconfirmed_bytes == 0


async def test_a_batch_waits_for_the_gate_the_socket_reports_to() -> None:
    t = Tracked()
    await t.tracker.writable()  # open: returns at once
    t.gate.block(True)
    waiting = asyncio.ensure_future(t.tracker.writable())
    await asyncio.sleep(0)
    assert not waiting.done()
    t.gate.block(False)
    await asyncio.wait_for(waiting, 1)
