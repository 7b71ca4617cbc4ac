"""The RabbitMQ bus takes its consumers' deliveries from the socket's bytes (`amqp_frames`).

These hold what that path promises on a real broker: a delivery reaches the handler in the
callback that read it (no task per message), and a connection that only receives
deliveries for longer than aiormq's stuck-connection limit is not taken for dead. Recovery
after channel errors and broker cancels is in test_bus_consumer_recovery.py, reconnects in
test_bus_faults.py, ordering and acks in the contract suite.
"""

from __future__ import annotations

import asyncio

from yarl import URL

from livedesk.shared.bus.base import Delivery
from livedesk.shared.bus.base import Message as BusMessage
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import EVENTS
from tests.support.buses import exclusive_queue, open_bus, restore_signal

# aiormq cancels a connection's reader after (heartbeat + 1) * 3 s without a frame: 6 s.
HEARTBEAT_S = 1
STUCK_AFTER_S = (HEARTBEAT_S + 1) * 3
RATE = 50  # deliveries per second: steady, so the broker never needs a heartbeat of its own


async def test_a_delivery_is_handed_over_in_the_socket_callback(amqp_url: str) -> None:
    in_task: list[bool] = []
    arrived = asyncio.Event()

    def handler(delivery: Delivery) -> None:
        in_task.append(asyncio.current_task() is not None)
        arrived.set()

    async with (
        open_bus("rabbit-fast", amqp_url, name="fast-deliveries-callback") as bus,
        bus.subscribe(exclusive_queue((EVENTS, "fast.callback.#"))) as subscription,
    ):
        subscription.hand_to(handler)
        await bus.publish(BusMessage(EVENTS, "fast.callback.x", b"one"))
        async with asyncio.timeout(10):
            await arrived.wait()
    # aiormq's own consumer path would have run the handler in a task of its own.
    assert in_task == [False]


async def test_a_connection_that_only_receives_deliveries_stays_up(amqp_url: str) -> None:
    # The publisher has its own connection: its confirms would reach aiormq as frames.
    url = str(URL(amqp_url).update_query(heartbeat=HEARTBEAT_S))
    settings = BusSettings(reconnect_interval_s=0.5, publish_timeout_s=30.0)
    count = int(RATE * (STUCK_AFTER_S + 3))
    bodies: list[bytes] = []
    queue = exclusive_queue((EVENTS, "fast.steady.#"))
    async with (
        RabbitBus.connect(url, settings, name="fast-deliveries-receiver") as receiver,
        open_bus("rabbit-fast", amqp_url, name="fast-deliveries-sender") as sender,
        # Nothing is acked: a prefetch of them all keeps them coming.
        receiver.subscribe(queue, prefetch=count) as subscription,
    ):
        restored = restore_signal(subscription)
        all_in = asyncio.Event()

        def handler(delivery: Delivery) -> None:
            bodies.append(delivery.body)
            if len(bodies) == count:
                all_in.set()

        subscription.hand_to(handler)
        for i in range(count):
            await sender.publish(BusMessage(EVENTS, "fast.steady.x", str(i).encode()))
            await asyncio.sleep(1 / RATE)
        async with asyncio.timeout(10):
            await all_in.wait()
        assert not restored.is_set(), "the receiving connection was dropped and restored"
    assert bodies == [str(i).encode() for i in range(count)]
