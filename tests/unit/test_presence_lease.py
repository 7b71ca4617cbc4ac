"""Which presence replica announces: the lease on the memory bus, and what the announcer does
with the events of an active replica, a standby, and a standby that has just taken over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from livedesk.presence.lease import Lease
from livedesk.presence.publishing import LEASE_LAG_S, Announcer
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


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the lease has no event to wait on
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def holding(bus: MemoryBus, clock: FakeClock) -> AsyncIterator[Lease]:
    lease = Lease(bus, topology.presence_queue(), prefetch=10, clock=clock)
    task = asyncio.create_task(lease.run())
    await asyncio.sleep(0)  # registered, in order: the first is the one that is delivered to
    try:
        yield lease
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def nudge(bus: MemoryBus) -> None:
    """What a gateway sends: it reaches the presence queue, and so its active consumer."""
    await bus.publish(Message(topology.PRESENCE_IN, "node.gw.node_heartbeat", b"{}"))


def published(received: list[Delivery]) -> list[int]:
    """The users of the events published since the last call (the memory bus delivers at once)."""
    users = []
    for delivery in received:
        event = decode_event(delivery.body)
        assert isinstance(event, AgentStatusChanged)
        users.append(event.user_id)
    received.clear()
    return users


async def test_one_replica_announces_and_the_next_takes_over_with_what_it_just_decided() -> None:
    bus, clock = MemoryBus(), FakeClock()
    spec = QueueSpec("test.events", False, True, True, bindings=((topology.EPHEMERAL, "#"),))
    async with contextlib.AsyncExitStack() as first_replica, bus.subscribe(spec) as events:
        received: list[Delivery] = []
        events.hand_to(received.append)
        first = await first_replica.enter_async_context(holding(bus, clock))
        async with holding(bus, clock) as second:
            await nudge(bus)
            await until(lambda: first.active)
            assert not second.active
            active, standby = Announcer(bus, first, clock), Announcer(bus, second, clock)
            for user in (1, 2):  # both decide the same events; one publishes them
                await active.announce([online(user)])
                await standby.announce([online(user)])
            assert published(received) == [1, 2]
            assert standby.withheld == 2

            clock.now += LEASE_LAG_S + 0.5  # user 2 was long ago; 3 and 4 just now
            await active.announce([online(3)])
            await standby.announce([online(3)])
            await standby.announce([online(4)])  # the first replica died before this one
            await first_replica.aclose()  # its consumer goes with it
            assert published(received) == [3]
            await nudge(bus)
            await until(lambda: second.active)
            await standby.announce([])
            assert published(received) == [3, 4]  # the recent ones, not user 1 or 2
            await standby.announce([online(5)])
            assert published(received) == [5]


async def test_a_restored_consumer_stands_by_until_the_queue_delivers_again() -> None:
    bus, clock = MemoryBus(), FakeClock()
    async with holding(bus, clock) as lease:
        await nudge(bus)
        await until(lambda: lease.active)
        await lease._lost()  # what the bus calls after a reconnect
        assert not lease.active
        await nudge(bus)
        await until(lambda: lease.active)
