"""One contract, two buses: what every consumer of `Bus` may rely on.

Each test runs on the in-memory bus and on real RabbitMQ (the loopback broker or the one
named by LIVEDESK_TEST_AMQP_URL), there both on the fast path and on aio-pika's plain one.
Queue names are unique per test, so runs don't meet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from livedesk.shared.bus.base import Bus, Delivery, Message, Subscription
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.errors import BusError
from livedesk.shared.topology import EPHEMERAL, EVENTS, QueueSpec
from tests.support.buses import (
    BUS_KINDS,
    RABBIT_KINDS,
    delete_queues,
    exclusive_queue,
    open_bus,
    quorum_queue,
)

WAIT_S = 10.0


@pytest.fixture(params=BUS_KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    url = request.getfixturevalue("amqp_url") if request.param in RABBIT_KINDS else None
    async with open_bus(request.param, url, name=request.node.nodeid) as opened:
        yield opened


@pytest.fixture
async def durable_queues(request: pytest.FixtureRequest) -> AsyncIterator[list[QueueSpec]]:
    """Durable queues the test declares; removed from the broker afterwards."""
    specs: list[QueueSpec] = []
    yield specs
    if request.node.callspec.params["bus"] in RABBIT_KINDS and specs:
        await delete_queues(request.getfixturevalue("amqp_url"), [s.name for s in specs])


def shared_queue(created: list[QueueSpec], *, single_active: bool = False) -> QueueSpec:
    spec = quorum_queue((EVENTS, "contract.#"), single_active=single_active)
    created.append(spec)
    return spec


async def receive(subscription: Subscription, count: int) -> list[Delivery]:
    async with asyncio.timeout(WAIT_S):
        return [await anext(subscription) for _ in range(count)]


async def nothing_arrives(subscription: Subscription, within_s: float = 0.3) -> bool:
    try:
        async with asyncio.timeout(within_s):
            await anext(subscription)
    except TimeoutError:
        return True
    return False


async def test_wildcards_route_as_amqp_topics(bus: Bus) -> None:
    spec = exclusive_queue((EVENTS, "acct.1.*.9.#"), (EPHEMERAL, "acct.1.#"))
    async with bus.subscribe(spec) as subscription:
        wanted = [
            Message(EVENTS, "acct.1.conv.9.new_message", b"1"),
            Message(EVENTS, "acct.1.agent.9.agent_status", b"2"),
            Message(EPHEMERAL, "acct.1.conv.4.typing", b"3"),
        ]
        unwanted = [
            Message(EVENTS, "acct.1.conv.4.new_message", b"x"),  # `*`.9 does not match 4
            Message(EVENTS, "acct.11.conv.9.new_message", b"x"),  # another account
            Message(EPHEMERAL, "acct.2.conv.4.typing", b"x"),
        ]
        for message in [*unwanted[:2], *wanted, unwanted[2]]:
            await bus.publish(message)
        got = await receive(subscription, len(wanted))
        assert [(d.exchange, d.routing_key, d.body) for d in got] == [
            (m.exchange, m.routing_key, m.body) for m in wanted
        ]
        assert await nothing_arrives(subscription)


async def test_bind_and_unbind_at_run_time(bus: Bus) -> None:
    async with bus.subscribe(exclusive_queue()) as subscription:
        await bus.publish(Message(EVENTS, "acct.5.conv.1.new_message", b"before"))
        await subscription.bind(EVENTS, "acct.5.#")
        await bus.publish(Message(EVENTS, "acct.5.conv.1.new_message", b"bound"))
        assert [d.body for d in await receive(subscription, 1)] == [b"bound"]
        await subscription.unbind(EVENTS, "acct.5.#")
        await bus.publish(Message(EVENTS, "acct.5.conv.1.new_message", b"after"))
        assert await nothing_arrives(subscription)


async def test_order_is_kept_from_one_publisher(bus: Bus) -> None:
    count = 600
    async with bus.subscribe(exclusive_queue((EVENTS, "acct.3.#"))) as subscription:
        bodies = [str(n).encode() for n in range(count)]
        half = count // 2
        for body in bodies[:half]:
            await bus.publish(Message(EVENTS, "acct.3.conv.1.new_message", body))
        await bus.publish_many(
            [Message(EVENTS, "acct.3.conv.1.new_message", body) for body in bodies[half:]]
        )
        got: list[Delivery] = []
        async with asyncio.timeout(WAIT_S):
            while len(got) < count:
                # Settle as we go: an unacked consumer stops at its prefetch.
                got += await subscription.next_batch(count - len(got))
                await subscription.ack(got[-1], multiple=True)
        assert [d.body for d in got] == bodies


async def test_a_handler_gets_the_buffered_deliveries_then_the_rest_in_order(bus: Bus) -> None:
    count = 600
    bodies = [str(n).encode() for n in range(count)]
    async with bus.subscribe(exclusive_queue((EVENTS, "acct.4.#"))) as subscription:
        await bus.publish_many(
            [Message(EVENTS, "acct.4.conv.1.new_message", body) for body in bodies[:3]]
        )
        (first,) = await receive(subscription, 1)  # the other two wait in the buffer
        handed: list[Delivery] = []
        arrived = asyncio.Event()

        def handle(delivery: Delivery) -> None:
            handed.append(delivery)
            arrived.set()

        subscription.hand_to(handle)
        await bus.publish_many(
            [Message(EVENTS, "acct.4.conv.1.new_message", body) for body in bodies[3:]]
        )
        async with asyncio.timeout(WAIT_S):
            while len(handed) < count - 1:
                arrived.clear()
                await subscription.ack(handed[-1], multiple=True)  # past the prefetch
                await arrived.wait()
        assert [d.body for d in [first, *handed]] == bodies

        subscription.hand_to(None)
        await subscription.ack(handed[-1], multiple=True)
        await bus.publish(Message(EVENTS, "acct.4.conv.1.new_message", b"buffered again"))
        assert [d.body for d in await receive(subscription, 1)] == [b"buffered again"]
        assert len(handed) == count - 1


async def test_concurrent_batches_with_bodies_over_a_frame_arrive_whole_and_in_order(
    bus: Bus,
) -> None:
    # RabbitMQ's frame_max is 128 KiB: the big bodies travel as several body frames, and
    # two batches sent at once must not interleave inside one message.
    big = bytes(range(256)) * 1200
    batches = {
        key: [big + key.encode(), b"small " + key.encode(), big * 2, b"last " + key.encode()]
        for key in ("acct.4.conv.1.new_message", "acct.4.conv.2.new_message")
    }
    async with bus.subscribe(exclusive_queue((EVENTS, "acct.4.#"))) as subscription:
        await asyncio.gather(
            *(
                bus.publish_many([Message(EVENTS, key, body) for body in bodies])
                for key, bodies in batches.items()
            )
        )
        got = await receive(subscription, 8)
        await subscription.ack(got[-1], multiple=True)
    for key, bodies in batches.items():
        assert [d.body for d in got if d.routing_key == key] == bodies


async def test_a_confirmed_message_is_in_the_queue(
    bus: Bus, durable_queues: list[QueueSpec]
) -> None:
    spec = shared_queue(durable_queues)
    async with bus.subscribe(spec):
        pass  # declare the queue and its binding, then leave no consumer
    await bus.publish(Message(EVENTS, "contract.confirmed", b"kept"))
    async with bus.subscribe(spec) as subscription:
        (delivery,) = await receive(subscription, 1)
        assert delivery.body == b"kept"
        await subscription.ack(delivery)


async def test_an_unroutable_message_is_confirmed_all_the_same(bus: Bus) -> None:
    # A confirm means "accepted", not "delivered": nobody is bound to this key.
    await bus.publish(Message(EVENTS, "acct.999999.conv.1.new_message", b"lost"))


async def test_an_unknown_exchange_is_refused(bus: Bus) -> None:
    with pytest.raises(BusError, match="no exchange"):
        await bus.publish(Message("livedesk.nowhere", "k", b"x"))


async def test_a_rejected_delivery_comes_again_marked_redelivered(bus: Bus) -> None:
    async with bus.subscribe(exclusive_queue((EVENTS, "acct.8.#"))) as subscription:
        await bus.publish(Message(EVENTS, "acct.8.conv.1.new_message", b"retry me"))
        (first,) = await receive(subscription, 1)
        assert not first.redelivered
        await subscription.reject(first, requeue=True)
        (again,) = await receive(subscription, 1)
        assert (again.body, again.redelivered) == (b"retry me", True)
        await subscription.ack(again)
        assert await nothing_arrives(subscription)


async def test_what_a_dead_consumer_left_unacked_goes_to_the_next(
    bus: Bus, durable_queues: list[QueueSpec]
) -> None:
    spec = shared_queue(durable_queues)
    async with bus.subscribe(spec) as failing:
        await bus.publish_many(
            [Message(EVENTS, "contract.work", str(n).encode()) for n in range(3)]
        )
        got = await receive(failing, 3)
        await failing.ack(got[0])
        # The consumer dies here, having handled only the first message.
    async with bus.subscribe(spec) as successor:
        again = await receive(successor, 2)
        assert sorted(d.body for d in again) == [b"1", b"2"]
        assert all(d.redelivered for d in again)
        await successor.ack(again[-1], multiple=True)


async def test_multiple_ack_settles_everything_before_it(
    bus: Bus, durable_queues: list[QueueSpec]
) -> None:
    spec = shared_queue(durable_queues)
    async with bus.subscribe(spec) as consumer:
        await bus.publish_many(
            [Message(EVENTS, "contract.batch", str(n).encode()) for n in range(5)]
        )
        batch: list[Delivery] = []
        while len(batch) < 5:
            async with asyncio.timeout(WAIT_S):
                batch += await consumer.next_batch(5 - len(batch))
        assert [d.body for d in batch] == [str(n).encode() for n in range(5)]
        await consumer.ack(batch[-1], multiple=True)
    async with bus.subscribe(spec) as successor:
        assert await nothing_arrives(successor, within_s=0.5)


async def test_single_active_consumer_hands_over_when_the_active_leaves(
    bus: Bus, durable_queues: list[QueueSpec]
) -> None:
    spec = shared_queue(durable_queues, single_active=True)
    async with contextlib.AsyncExitStack() as active_scope:
        active = await active_scope.enter_async_context(bus.subscribe(spec))
        async with bus.subscribe(spec) as standby:
            await bus.publish(Message(EVENTS, "contract.sac", b"first"))
            (delivery,) = await receive(active, 1)
            await active.ack(delivery)
            assert await nothing_arrives(standby)
            await active_scope.aclose()  # the active replica goes away
            await bus.publish(Message(EVENTS, "contract.sac", b"second"))
            (taken_over,) = await receive(standby, 1)
            assert taken_over.body == b"second"
            await standby.ack(taken_over)


async def test_a_delivery_names_the_broker_user_that_published_it(bus: Bus) -> None:
    # RabbitMQ checks a publish's user_id against the connection's login, so a consumer can
    # trust it (the gateway's check of the events' publisher); the memory bus has no users.
    spec = exclusive_queue((EVENTS, "acct.1.#"))
    async with bus.subscribe(spec) as subscription:
        await bus.publish(Message(EVENTS, "acct.1.conv.1.new_message", b"1"))
        await bus.publish_many([Message(EVENTS, "acct.1.conv.1.new_message", b"2")])
        deliveries = await receive(subscription, 2)
    assert [d.user_id for d in deliveries] == [bus.user_id, bus.user_id]
    assert (bus.user_id is None) == isinstance(bus, MemoryBus)
