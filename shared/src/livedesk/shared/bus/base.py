"""The bus interface every service talks to, whatever carries the messages.

Publishing returns once the broker has *accepted* a message (a publisher confirm). RabbitMQ
confirms an unroutable message too, so a confirm means "accepted", never "delivered": a
topic with no bound queue swallows what is published to it. Delivery is at-least-once: a
consumer acks what it has handled, and what it rejects or leaves unacked when it goes away
comes again marked `redelivered` (except from an exclusive queue, which goes with it).

Not here: retries of a whole business operation, ordering across publishers, and the queue
layout (see `topology`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from livedesk.shared.topology import QueueSpec

RestoreCallback = Callable[[], Awaitable[None]]
DeliveryHandler = Callable[["Delivery"], None]


@dataclass(frozen=True, slots=True)
class Message:
    exchange: str
    routing_key: str
    body: bytes
    # Persistent messages survive a broker restart in a durable queue; ephemeral events
    # (typing) are worthless a second later and skip the disk.
    persistent: bool = True


@dataclass(frozen=True, slots=True)
class Delivery:
    exchange: str
    routing_key: str
    body: bytes
    redelivered: bool
    handle: object  # the bus's own token for ack and reject; opaque to consumers
    # The broker user that published it, as the broker checked it (AMQP user_id); None from a
    # publisher that set none, and always on the memory bus, which has no users.
    user_id: str | None = None


class Subscription(ABC):
    """A consumer on one queue: bind and unbind at run time, iterate deliveries or have them
    handed over as they arrive (`hand_to`), ack them."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self._buffer: asyncio.Queue[Delivery] = asyncio.Queue()
        self._handler: DeliveryHandler | None = None
        self._restore_callbacks: list[RestoreCallback] = []

    def hand_to(self, handler: DeliveryHandler | None) -> None:
        """Call `handler` with each delivery as it arrives, in order, instead of buffering it
        for the iterator (None: buffer again). What is buffered already goes to it first.

        For a consumer that handles a delivery without awaiting anything: it saves a wake-up
        of the consumer's own task per delivery, which counts when deliveries come one at a
        time. `handler` runs in the bus's receiving task (the publisher's, on the memory bus):
        it must not block or raise.
        """
        self._handler = handler
        if handler is not None:
            while not self._buffer.empty():
                handler(self._buffer.get_nowait())

    def _arrived(self, delivery: Delivery) -> None:
        """Called by the bus with each delivery, in the queue's order."""
        if self._handler is None:
            self._buffer.put_nowait(delivery)
        else:
            self._handler(delivery)

    @abstractmethod
    async def bind(self, exchange: str, pattern: str) -> None: ...

    @abstractmethod
    async def unbind(self, exchange: str, pattern: str) -> None: ...

    @abstractmethod
    async def ack(self, delivery: Delivery, *, multiple: bool = False) -> None:
        """Settle `delivery` (and, with `multiple`, every earlier one of this consumer)."""

    @abstractmethod
    async def reject(self, delivery: Delivery, *, requeue: bool = True) -> None: ...

    def on_restore(self, callback: RestoreCallback) -> None:
        """Call `callback` after a reconnect has re-declared the queue and its bindings.

        Whatever was published to an exclusive queue while the connection was down is gone:
        a consumer that must not lose it catches up from its own source of truth here.
        """
        self._restore_callbacks.append(callback)

    async def _restored(self) -> None:
        for callback in self._restore_callbacks:
            await callback()

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self

    async def __anext__(self) -> Delivery:
        return await self._buffer.get()

    async def next_batch(self, max_size: int) -> list[Delivery]:
        """Wait for one delivery, then take what else is already here, up to `max_size`.

        Lets a consumer handle a burst with one wake-up and settle it with one ack.
        """
        batch = [await self._buffer.get()]
        while len(batch) < max_size and not self._buffer.empty():
            batch.append(self._buffer.get_nowait())
        return batch


class Bus(ABC):
    # The broker user whose name this bus's publishes carry (AMQP user_id); None on a bus
    # without broker users (in memory).
    user_id: str | None = None

    @abstractmethod
    async def publish(self, message: Message) -> None:
        """Return once the broker accepted `message`; raise `BusError` after the timeout."""

    @abstractmethod
    async def publish_many(self, messages: Sequence[Message]) -> None:
        """Publish in order, pipelined, and return once every one is accepted."""

    @abstractmethod
    def subscribe(
        self, spec: QueueSpec, *, prefetch: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Declare the queue, consume it while the context is open, cancel on exit."""
