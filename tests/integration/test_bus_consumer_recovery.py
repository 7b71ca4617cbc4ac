"""The RabbitMQ bus's consumer through what closes its channel but not its connection.

On both paths the subscription consumes again by itself rather than through aio-pika's own
consumer recovery (`rabbit.fast.consumer` on aiormq's channel directly, `rabbit.subscription`
on aio-pika's queue): these hold that it comes back when the broker cancels it (its queue
deleted) and when a channel error closes its channel. Broker restarts and dropped
connections are in test_bus_faults.py. The faults here touch only the test's own queue and
channel, so the shared loopback broker will do.
"""

from __future__ import annotations

import asyncio

import aiormq
import pytest

from livedesk.shared.bus.base import Bus, Delivery, Subscription
from livedesk.shared.bus.base import Message as BusMessage
from livedesk.shared.topology import EVENTS
from tests.support.buses import (
    RABBIT_KINDS,
    delete_queues,
    exclusive_queue,
    open_bus,
    quorum_queue,
    restore_signal,
)

pytestmark = pytest.mark.parametrize("kind", RABBIT_KINDS)

SETTLE_S = 30.0
# How long one probe waits for its message before publishing the next one.
PROBE_S = 0.5


async def first_arrival(bus: Bus, subscription: Subscription, routing_key: str) -> Delivery:
    """Publish probes until one arrives: the consumer is back when a probe gets through."""
    async with asyncio.timeout(SETTLE_S):
        while True:
            await bus.publish(BusMessage(EVENTS, routing_key, b"probe"))
            try:
                async with asyncio.timeout(PROBE_S):
                    return await anext(subscription)
            except TimeoutError:
                continue


async def test_a_consumer_the_broker_cancels_comes_back_with_its_queue(
    amqp_url: str, kind: str
) -> None:
    spec = quorum_queue((EVENTS, "recovery.declared.#"))
    try:
        async with (
            open_bus(kind, amqp_url, name="consumer-cancelled") as bus,
            bus.subscribe(spec) as subscription,
        ):
            restored = restore_signal(subscription)
            await subscription.bind(EVENTS, "recovery.runtime.#")
            await delete_queues(amqp_url, [spec.name])  # the broker cancels the consumer
            async with asyncio.timeout(SETTLE_S):
                await restored.wait()  # what went to the deleted queue is lost: catch up

            await bus.publish(BusMessage(EVENTS, "recovery.runtime.x", b"runtime"))
            await bus.publish(BusMessage(EVENTS, "recovery.declared.x", b"declared"))
            async with asyncio.timeout(SETTLE_S):
                got = [await anext(subscription), await anext(subscription)]
            assert [d.body for d in got] == [b"runtime", b"declared"]
            await subscription.ack(got[-1], multiple=True)
    finally:
        await delete_queues(amqp_url, [spec.name])


async def test_a_consumer_comes_back_after_a_channel_error(amqp_url: str, kind: str) -> None:
    spec = exclusive_queue((EVENTS, "recovery.error.#"))
    async with (
        open_bus(kind, amqp_url, name="consumer-channel-error") as bus,
        bus.subscribe(spec) as subscription,
    ):
        # Binding to an exchange that does not exist is a channel error: the broker closes
        # the subscription's channel, and the robust channel opens another.
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await subscription.bind("livedesk.test.no-such-exchange", "recovery.error.#")

        delivery = await first_arrival(bus, subscription, "recovery.error.x")
        assert delivery.body == b"probe"
        await subscription.ack(delivery)  # settled on the channel it came on, the new one


async def test_a_deleted_queue_comes_back_bound_to_what_was_bound_and_no_more(
    amqp_url: str, kind: str
) -> None:
    # After the queue is declared again, what was bound is bound again and what was unbound
    # stays so (on the fast path from our record, `rabbit.fast.bindings`; else aio-pika's).
    spec = quorum_queue()
    accounts = range(40)
    kept = {f"acct.{a}.x" for a in accounts if a % 2 == 0}
    try:
        async with (
            open_bus(kind, amqp_url, name="bindings-restored") as bus,
            bus.subscribe(spec) as subscription,
        ):
            restored = restore_signal(subscription)
            for account in accounts:
                await subscription.bind(EVENTS, f"acct.{account}.#")
            for account in accounts:
                if account % 2:
                    await subscription.unbind(EVENTS, f"acct.{account}.#")
            await delete_queues(amqp_url, [spec.name])  # declared again, bound from the record
            async with asyncio.timeout(SETTLE_S):
                await restored.wait()

            await bus.publish_many([BusMessage(EVENTS, f"acct.{a}.x", b"") for a in accounts])
            await bus.publish(BusMessage(EVENTS, "acct.0.last", b""))  # after all of them
            got: list[str] = []
            async with asyncio.timeout(SETTLE_S):
                while not got or got[-1] != "acct.0.last":
                    got.append((await anext(subscription)).routing_key)
            assert set(got[:-1]) == kept
    finally:
        await delete_queues(amqp_url, [spec.name])
