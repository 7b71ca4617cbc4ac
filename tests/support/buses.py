"""Buses for tests: a fresh one of any kind (in memory, RabbitMQ on the fast path or on
aio-pika's plain one), the two kinds of queue tests declare, a signal of a subscription's
restore, and clean-up of the queues a test declared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from livedesk.shared.bus.base import Bus, Subscription
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.bus.rabbit.fast.bus import FastRabbitBus
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import QueueSpec

RABBIT_KINDS = ("rabbit-fast", "rabbit-plain")
BUS_KINDS = ("memory", *RABBIT_KINDS)


def unique_name(prefix: str = "livedesk.test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


def exclusive_queue(*bindings: tuple[str, str]) -> QueueSpec:
    """A queue like a gateway node's: this connection's alone, gone with it."""
    return QueueSpec(
        name=unique_name(), durable=False, exclusive=True, auto_delete=True, bindings=bindings
    )


def quorum_queue(*bindings: tuple[str, str], single_active: bool = False) -> QueueSpec:
    """A durable quorum queue, like presence's: it outlives its consumers (`delete_queues`)."""
    arguments: dict[str, object] = {"x-queue-type": "quorum"}
    if single_active:
        arguments["x-single-active-consumer"] = True
    return QueueSpec(
        name=unique_name(),
        durable=True,
        exclusive=False,
        auto_delete=False,
        arguments=arguments,
        bindings=bindings,
    )


@asynccontextmanager
async def open_bus(kind: str, amqp_url: str | None, name: str) -> AsyncIterator[Bus]:
    if kind == "memory":
        yield MemoryBus()
        return
    assert amqp_url is not None
    async with open_rabbit_bus(kind, amqp_url, name) as bus:
        yield bus


@asynccontextmanager
async def open_rabbit_bus(kind: str, amqp_url: str, name: str) -> AsyncIterator[RabbitBus]:
    assert kind in RABBIT_KINDS, kind
    fast = kind == "rabbit-fast"
    settings = BusSettings(reconnect_interval_s=0.5, publish_timeout_s=30.0, fast_path=fast)
    async with RabbitBus.connect(amqp_url, settings, name=name) as bus:
        # A fast path that fell back by itself would have these tests try the plain one twice.
        assert isinstance(bus, FastRabbitBus) == fast, f"{kind} opened {type(bus).__name__}"
        yield bus


def restore_signal(subscription: Subscription) -> asyncio.Event:
    """Set once the subscription's restore callbacks run (after a reconnect or a lost queue)."""
    restored = asyncio.Event()

    async def on_restore() -> None:
        restored.set()

    subscription.on_restore(on_restore)
    return restored


async def delete_queues(amqp_url: str, names: list[str]) -> None:
    """Durable test queues outlive their consumers: remove them so runs don't pile up."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name, if_unused=False, if_empty=False)
