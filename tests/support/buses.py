"""Buses for tests: a fresh one of either kind, a signal of a subscription's restore, and
clean-up of the queues a test declared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from livedesk.shared.bus.base import Bus, Subscription
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.settings import BusSettings


def unique_name(prefix: str = "livedesk.test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def open_bus(kind: str, amqp_url: str | None, name: str) -> AsyncIterator[Bus]:
    if kind == "memory":
        yield MemoryBus()
        return
    assert amqp_url is not None
    settings = BusSettings(reconnect_interval_s=0.5, publish_timeout_s=30.0)
    async with RabbitBus.connect(amqp_url, settings, name=name) as bus:
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
