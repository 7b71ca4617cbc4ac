"""The RabbitMQ bus through broker faults: dropped connections, and a stop and start.

These run against a private RabbitMQ node (the `private_rabbit` fixture), because they do
to the broker what would break anyone else using it. A publisher and a consumer on their
own connections stream numbered messages while the fault happens; afterwards every message
whose publish was confirmed has been received, and the consumer's runtime bindings are back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from livedesk.shared.bus.base import Bus, Message, Subscription
from livedesk.shared.topology import EVENTS
from tests.support.buses import (
    RABBIT_KINDS,
    delete_queues,
    exclusive_queue,
    open_bus,
    quorum_queue,
    restore_signal,
)
from tests.support.private_rabbit import PrivateRabbit

pytestmark = [pytest.mark.fault, pytest.mark.parametrize("kind", RABBIT_KINDS)]

STREAM = 400
FAULT_AT = 120
SETTLE_S = 60.0


def faults(node: PrivateRabbit) -> dict[str, Callable[[], None]]:
    def restart() -> None:
        node.stop_app()
        node.start_app()

    return {"close_all_connections": node.close_all_connections, "stop_and_start": restart}


@pytest.mark.parametrize("fault", ["close_all_connections", "stop_and_start"])
async def test_every_confirmed_message_arrives_through_a_fault(
    private_rabbit: PrivateRabbit, fault: str, kind: str
) -> None:
    spec = quorum_queue((EVENTS, "fault.#"))
    received: list[int] = []
    arrived = asyncio.Event()
    try:
        async with (
            open_bus(kind, private_rabbit.url, name="fault-consumer") as consumer_bus,
            open_bus(kind, private_rabbit.url, name="fault-publisher") as publisher_bus,
            consumer_bus.subscribe(spec) as subscription,
            asyncio.TaskGroup() as group,
        ):
            collector = group.create_task(collect(subscription, received, arrived))
            confirmed = await publish_through(publisher_bus, faults(private_rabbit)[fault])
            async with asyncio.timeout(SETTLE_S):
                while not set(confirmed) <= set(received):
                    arrived.clear()
                    await arrived.wait()
            collector.cancel()
    finally:
        await delete_queues(private_rabbit.url, [spec.name])

    assert confirmed == list(range(STREAM)), "every publish is confirmed once the broker is back"
    first_seen = list(dict.fromkeys(received))
    assert first_seen == sorted(first_seen), "first deliveries keep the publisher's order"


@pytest.mark.parametrize("fault", ["close_all_connections", "stop_and_start"])
async def test_a_node_queue_comes_back_with_its_runtime_bindings(
    private_rabbit: PrivateRabbit, fault: str, kind: str
) -> None:
    spec = exclusive_queue()
    async with (
        open_bus(kind, private_rabbit.url, name="node-queue") as bus,
        bus.subscribe(spec) as subscription,
    ):
        restored = restore_signal(subscription)
        await subscription.bind(EVENTS, "acct.77.#")
        await subscription.bind(EVENTS, "acct.78.#")
        await subscription.unbind(EVENTS, "acct.78.#")

        await asyncio.to_thread(faults(private_rabbit)[fault])
        async with asyncio.timeout(SETTLE_S):
            await restored.wait()

        await bus.publish(Message(EVENTS, "acct.78.conv.1.new_message", b"unbound"))
        await bus.publish(Message(EVENTS, "acct.77.conv.1.new_message", b"after the fault"))
        async with asyncio.timeout(SETTLE_S):
            delivery = await anext(subscription)
        assert delivery.body == b"after the fault"


async def publish_through(bus: Bus, fault: Callable[[], None]) -> list[int]:
    """Publish STREAM numbered messages one by one, setting off the fault part-way."""
    confirmed: list[int] = []
    async with asyncio.TaskGroup() as group:
        for number in range(STREAM):
            if number == FAULT_AT:
                group.create_task(asyncio.to_thread(fault))
            await bus.publish(Message(EVENTS, "fault.stream", str(number).encode()))
            confirmed.append(number)
            await asyncio.sleep(0.005)  # a steady stream, so the fault lands mid-way
    return confirmed


async def collect(subscription: Subscription, into: list[int], arrived: asyncio.Event) -> None:
    while True:
        batch = await subscription.next_batch(100)
        into.extend(int(delivery.body) for delivery in batch)
        arrived.set()
        await subscription.ack(batch[-1], multiple=True)
