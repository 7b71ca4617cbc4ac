"""The RabbitMQ bus publishes past aiormq (`publish_confirms`), on a real broker.

These hold what that path promises: a batch's frames go to the socket, not through aiormq's
write queue; its confirms are taken from the socket, never reaching aiormq's channel; a
broker's refusal (a nack) raises BusError; and a socket cut while a batch waits for its
confirms fails that try at once, and the retry on the reopened channel gets every message
through. Restarts of the broker are in test_bus_faults.py.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import aiormq
import pytest

from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit.fast.publish_confirms import ConfirmTracker
from livedesk.shared.bus.rabbit.fast.transport import DeliveryRoutes
from livedesk.shared.errors import BusError
from livedesk.shared.topology import EVENTS
from tests.support.buses import exclusive_queue, open_bus

BASIC_PUBLISH = struct.pack(">HH", 60, 40)
BATCH = 200


def batch(prefix: str, count: int = BATCH) -> list[Message]:
    return [Message(EVENTS, f"{prefix}.{i}", str(i).encode()) for i in range(count)]


def is_publish(item: object) -> bool:
    """A frame aiormq queued for its writer that carries a Basic.Publish."""
    payload = getattr(item, "payload", b"")
    return isinstance(payload, bytes) and payload[7:11] == BASIC_PUBLISH


async def test_publishes_skip_the_write_queue_and_confirms_skip_aiormq(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[object] = []
    confirm_frames: list[object] = []
    put, put_nowait = asyncio.Queue.put, asyncio.Queue.put_nowait

    async def spy_put(queue: asyncio.Queue[Any], item: Any) -> None:
        queued.append(item)
        await put(queue, item)

    def spy_put_nowait(queue: asyncio.Queue[Any], item: Any) -> None:
        queued.append(item)
        put_nowait(queue, item)

    async def spy_confirm(channel: aiormq.Channel, frame: object) -> None:
        confirm_frames.append(frame)

    monkeypatch.setattr(asyncio.Queue, "put", spy_put)
    monkeypatch.setattr(asyncio.Queue, "put_nowait", spy_put_nowait)
    monkeypatch.setattr(aiormq.Channel, "_on_confirm_frame", spy_confirm)
    async with open_bus("rabbit-fast", amqp_url, name="lean-publish-path") as bus:
        async with asyncio.timeout(10):
            await bus.publish_many(batch("lean.path"))
            await bus.publish(Message(EVENTS, "lean.path.one", b"one"))
    assert not [item for item in queued if is_publish(item)], "a publish went by aiormq's writer"
    assert confirm_frames == [], "a confirm reached aiormq's channel"


@pytest.fixture
async def full_queue(amqp_url: str) -> AsyncIterator[str]:
    """A queue that refuses whatever comes once it holds one message: its routing key."""
    key = f"lean.full.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            key, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
        await queue.bind(EVENTS, routing_key=key)
        try:
            yield key
        finally:
            await queue.delete(if_unused=False, if_empty=False)


async def test_a_refused_publish_raises_and_the_bus_publishes_on(
    amqp_url: str, full_queue: str
) -> None:
    async with open_bus("rabbit-fast", amqp_url, name="lean-publish-refused") as bus:
        async with asyncio.timeout(10):
            await bus.publish(Message(EVENTS, full_queue, b"fills it"))
            with pytest.raises(BusError, match="refused"):
                await bus.publish_many([Message(EVENTS, full_queue, b"x")] * 3)
            await bus.publish_many(batch("lean.after.refusal", 10))


async def test_a_socket_cut_while_confirms_are_awaited_is_retried_at_once(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sockets: list[asyncio.StreamWriter] = []
    first_tries: list[asyncio.Future[None]] = []
    create, send = DeliveryRoutes.create, ConfirmTracker.send

    async def remember(
        routes: DeliveryRoutes, *args: Any, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await create(routes, *args, **kwargs)
        sockets.append(writer)
        return reader, writer

    def cut_after_the_first(tracker: ConfirmTracker, payload: bytes, count: int) -> Any:
        sent = send(tracker, payload, count)
        if not first_tries:
            first_tries.append(sent)
            sockets[-1].transport.abort()  # the write is in the kernel or the buffer, no more
        return sent

    monkeypatch.setattr(DeliveryRoutes, "create", remember)
    monkeypatch.setattr(ConfirmTracker, "send", cut_after_the_first)
    received: list[bytes] = []
    all_in = asyncio.Event()
    messages = batch("lean.cut")

    def handler_for(expected: int) -> Callable[[Any], None]:
        def handler(delivery: Any) -> None:
            received.append(delivery.body)
            if len(set(received)) == expected:
                all_in.set()

        return handler

    async with (
        open_bus("rabbit-fast", amqp_url, name="lean-publish-consumer") as consumer,
        # Nothing is acked: room for the whole batch twice (the cut try may have arrived).
        consumer.subscribe(
            exclusive_queue((EVENTS, "lean.cut.#")), prefetch=2 * BATCH
        ) as subscription,
        open_bus("rabbit-fast", amqp_url, name="lean-publish-cut") as bus,
    ):
        subscription.hand_to(handler_for(len(messages)))
        # Well inside publish_timeout_s (30 s): the cut try fails when the channel closes,
        # not when the publish times out.
        async with asyncio.timeout(10):
            await bus.publish_many(messages)
            await all_in.wait()
        assert len(sockets) == 3, "the publisher reconnected once (the consumer has one)"
    with pytest.raises(ConnectionError):
        first_tries[0].result()
    assert set(received) == {m.body for m in messages}
