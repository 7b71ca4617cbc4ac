"""The in-memory bus: the same topic semantics as RabbitMQ, inside one process.

It exists for the one-process standalone mode and for fast unit tests. Queues, bindings,
acks, rejects with requeue and single-active-consumer behave as on the broker; there is no
persistence, no prefetch limit and no reconnect (so restore callbacks never run).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from livedesk.shared.bus.base import Bus, Delivery, Message, Subscription
from livedesk.shared.bus.topic import matches
from livedesk.shared.errors import BusError
from livedesk.shared.topology import EXCHANGES, QueueSpec


@dataclass
class _Queue:
    spec: QueueSpec
    bindings: set[tuple[str, str]] = field(default_factory=set)
    consumers: list[MemorySubscription] = field(default_factory=list)
    # Held while no consumer is attached, with whether it was delivered before.
    backlog: list[tuple[Message, bool]] = field(default_factory=list)
    next_consumer: int = 0

    def accepts(self, message: Message) -> bool:
        return any(
            exchange == message.exchange and matches(pattern, message.routing_key)
            for exchange, pattern in self.bindings
        )

    def dispatch(self, message: Message, *, redelivered: bool = False) -> None:
        if not self.consumers:
            self.backlog.append((message, redelivered))
            return
        if self.spec.single_active_consumer:
            consumer = self.consumers[0]
        else:
            consumer = self.consumers[self.next_consumer % len(self.consumers)]
            self.next_consumer += 1
        consumer.deliver(message, redelivered=redelivered)


class MemorySubscription(Subscription):
    def __init__(self, queue: _Queue) -> None:
        super().__init__(queue.spec.name)
        self._queue = queue
        self._tags = itertools.count(1)
        self._unacked: dict[int, Message] = {}

    def deliver(self, message: Message, *, redelivered: bool) -> None:
        tag = next(self._tags)
        self._unacked[tag] = message
        delivery = Delivery(message.exchange, message.routing_key, message.body, redelivered, tag)
        self._arrived(delivery)

    async def bind(self, exchange: str, pattern: str) -> None:
        _check_exchange(exchange)
        self._queue.bindings.add((exchange, pattern))

    async def unbind(self, exchange: str, pattern: str) -> None:
        self._queue.bindings.discard((exchange, pattern))

    async def ack(self, delivery: Delivery, *, multiple: bool = False) -> None:
        tag = _tag(delivery)
        if multiple:
            # Tags are handed out in increasing order and the dict keeps insertion order, so
            # everything up to `tag` sits at the front: settle from there, not by a scan.
            while self._unacked and (oldest := next(iter(self._unacked))) <= tag:
                del self._unacked[oldest]
        else:
            self._unacked.pop(tag, None)

    async def reject(self, delivery: Delivery, *, requeue: bool = True) -> None:
        message = self._unacked.pop(_tag(delivery), None)
        if message is not None and requeue:
            self._queue.dispatch(message, redelivered=True)

    def detach(self) -> list[Message]:
        """Stop consuming; return what was delivered to this consumer and never acked."""
        self._queue.consumers.remove(self)
        left = list(self._unacked.values())
        self._unacked.clear()
        return left


class MemoryBus(Bus):
    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    async def publish(self, message: Message) -> None:
        _check_exchange(message.exchange)
        for queue in list(self._queues.values()):
            if queue.accepts(message):
                queue.dispatch(message)

    async def publish_many(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await self.publish(message)

    @asynccontextmanager
    async def subscribe(
        self, spec: QueueSpec, *, prefetch: int | None = None
    ) -> AsyncIterator[Subscription]:
        queue = self._queues.get(spec.name)
        if queue is None:
            queue = self._queues[spec.name] = _Queue(spec, bindings=set(spec.bindings))
        elif spec.exclusive or queue.spec.exclusive:
            raise BusError(f"queue {spec.name!r} is exclusive to another consumer")
        subscription = MemorySubscription(queue)
        queue.consumers.append(subscription)
        backlog, queue.backlog = queue.backlog, []
        for message, redelivered in backlog:
            queue.dispatch(message, redelivered=redelivered)
        try:
            yield subscription
        finally:
            unacked = subscription.detach()
            if spec.auto_delete and not queue.consumers:
                del self._queues[spec.name]
            else:
                for message in unacked:
                    queue.dispatch(message, redelivered=True)


def _check_exchange(exchange: str) -> None:
    if exchange not in EXCHANGES:
        raise BusError(f"no exchange {exchange!r}")


def _tag(delivery: Delivery) -> int:
    assert isinstance(delivery.handle, int), "a delivery of another bus"
    return delivery.handle
