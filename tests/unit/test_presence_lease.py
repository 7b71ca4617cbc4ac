"""Which presence replica announces: the lease on the memory bus, and what the announcer does
with the events of an active replica, a standby, and a standby that has just taken over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from livedesk.presence.lease import Lease, MessageKey, message_key
from livedesk.presence.publishing import HELD_S, Announcer
from livedesk.shared import topology
from livedesk.shared.bus.base import Delivery, Message
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.events import AgentStatus, AgentStatusChanged
from livedesk.shared.events import decode as decode_event
from livedesk.shared.topology import QueueSpec


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def online(user: int) -> AgentStatusChanged:
    return AgentStatusChanged(account_id=1, user_id=user, status=AgentStatus.ONLINE)


@contextlib.asynccontextmanager
async def holding(bus: MemoryBus) -> AsyncIterator[Lease]:
    lease = Lease(bus, topology.presence_queue(), prefetch=10)
    task = asyncio.create_task(lease.run())
    await asyncio.sleep(0)  # registered, in order: the first is the one that is delivered to
    try:
        yield lease
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def send(bus: MemoryBus, body: bytes) -> MessageKey:
    """What a gateway sends: it reaches the presence queue, and so its active consumer."""
    await bus.publish(Message(topology.PRESENCE_IN, "node.gw.node_heartbeat", body))
    await asyncio.sleep(0)  # the lease's task acks it
    return message_key(body)


def published(received: list[Delivery]) -> list[int]:
    """The users of the events published since the last call (the memory bus delivers at once)."""
    users = []
    for delivery in received:
        event = decode_event(delivery.body)
        assert isinstance(event, AgentStatusChanged)
        users.append(event.user_id)
    received.clear()
    return users


@contextlib.asynccontextmanager
async def ephemeral(bus: MemoryBus) -> AsyncIterator[list[Delivery]]:
    spec = QueueSpec("test.events", False, True, True, bindings=((topology.EPHEMERAL, "#"),))
    async with bus.subscribe(spec) as events:
        received: list[Delivery] = []
        events.hand_to(received.append)
        yield received


async def test_one_replica_announces_and_the_next_takes_over_from_the_first_message_it_gets() -> (
    None
):
    bus, clock = MemoryBus(), FakeClock()
    async with contextlib.AsyncExitStack() as first_replica, ephemeral(bus) as received:
        first = await first_replica.enter_async_context(holding(bus))
        async with holding(bus) as second:
            active, standby = Announcer(bus, first, clock), Announcer(bus, second, clock)
            m1 = await send(bus, b"m1")
            assert first.active
            assert not second.active
            for announcer in (active, standby):  # both decide the same; one publishes
                await announcer.announce([(m1, [online(1)])])
                await announcer.announce([(None, [online(2)])])  # a tick's
            assert published(received) == [1, 2]
            assert standby.withheld == 2

            await first_replica.aclose()  # the first replica dies; its consumer goes with it
            m3 = message_key(b"m3")
            await standby.announce([(m3, [online(3)])])  # its own queue is a little ahead
            await standby.announce([(None, [online(4)])])
            assert published(received) == []
            await send(bus, b"m3")  # the presence queue catches up: the second is the one
            assert second.active
            await standby.announce([])  # the next tick
            assert published(received) == [3, 4]  # from m3 on, nothing before it
            await standby.announce([(message_key(b"m5"), [online(5)])])
            assert published(received) == [5]


async def test_what_a_standby_held_before_the_presence_queue_got_to_it_is_not_announced() -> None:
    bus, clock = MemoryBus(), FakeClock()
    async with ephemeral(bus) as received, holding(bus) as lease:
        announcer = Announcer(bus, lease, clock)
        await announcer.announce([(message_key(b"old"), [online(1)])])
        clock.now += HELD_S + 1  # long ago: dropped, whatever happens next
        await announcer.announce([(message_key(b"m2"), [online(2)])])
        m3 = await send(bus, b"m3")  # the presence queue is ahead of our own
        await announcer.announce([(m3, [online(3)])])
        assert published(received) == [3]


async def test_a_restored_consumer_stands_by_until_the_queue_delivers_again() -> None:
    bus = MemoryBus()
    async with holding(bus) as lease:
        await send(bus, b"m1")
        assert lease.active
        await lease._lost()  # what the bus calls after a reconnect
        assert not lease.active
        await send(bus, b"m2")
        assert lease.first_key == message_key(b"m2")
