"""A queue's consumer on RabbitMQ: what both paths share, and the plain one, on aio-pika's
public API.

The plain subscription consumes with aio-pika's `Queue.consume` and binds with its robust
queue, which records run-time bindings and declares the queue and them again whenever the
channel reopens (a reconnect, a channel error). The consumer itself is consumed again here,
in the channel's reopen callback, rather than by aio-pika, so that a consumer the broker
cancels (its queue deleted) comes back the way a channel error does: its channel is closed,
the robust channel reopens and declares the queue again, and the restore callbacks run,
since whatever was routed to the deleted queue is gone. The hand-written consumer
(`fast.consumer`) does the same past aio-pika.

A delivery holds aio-pika's message, which holds the channel it came on: an ack after that
channel closed is dropped (the broker has requeued the message already).

Not here: declaring the queue, connecting, publishing (`rabbit.bus`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from abc import abstractmethod

import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustQueue

from livedesk.shared.bus.base import Delivery, Subscription
from livedesk.shared.bus.rabbit.closed import CLOSED

log = logging.getLogger(__name__)


class RabbitSubscription(Subscription):
    """A subscription the bus starts once the queue is declared and stops on leaving.

    What both paths share: one consumer tag for the subscription's life (a restored consumer
    is the same consumer to the broker's management view and to our logs), consuming again
    whenever the robust channel reopens, and a broker-side cancel turned into a channel close.
    """

    def __init__(self, channel: AbstractRobustChannel, queue_name: str) -> None:
        super().__init__(queue_name)
        self._channel = channel
        self._tag = f"livedesk.{secrets.token_hex(8)}"
        self._stopped = False
        # Set by a broker-side cancel: the queue was deleted, and what came meanwhile is lost.
        self._lost = False
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Consume now, and again whenever the robust channel reopens."""
        self._channel.reopen_callbacks.add(self._reopened)
        await self._consume()

    async def stop(self) -> None:
        """Cancel the consumer (idempotent); what it has not acked goes back to the queue."""
        self._stopped = True
        self._channel.reopen_callbacks.discard(self._reopened)
        await self._cancel_consumer()

    @abstractmethod
    async def _consume(self, *, reopened: bool = False) -> None:
        """Consume on the channel's current aiormq channel (`reopened`: after a reopen)."""

    @abstractmethod
    async def _cancel_consumer(self) -> None:
        """Cancel the consumer on the broker, unless its channel is closed already."""

    async def _reopened(self, _: object) -> None:
        # aio-pika's callback collection swallows what this raises: say it, at least. The
        # channel is closed again in that case, and its next reopen consumes again.
        if self._stopped:
            return
        try:
            await self._consume(reopened=True)
        except Exception:
            log.exception("consumer of %s not restored with its channel", self.queue_name)
            return
        if self._lost:
            self._lost = False
            await self._restored()

    def _cancelled(self, frame: aiormq.spec.Basic.Cancel) -> None:
        # Only a close brings aio-pika's restore (declare the queue, bind, reopen callbacks).
        # Not awaited here: this runs in the channel's reader, which the close cancels.
        if frame.consumer_tag != self._tag or self._stopped:
            return
        log.warning("the broker cancelled the consumer of %s; reopening", self.queue_name)
        self._lost = True
        task = asyncio.get_running_loop().create_task(self._close_channel())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_channel(self) -> None:
        if not self._channel.is_closed:
            channel = await self._channel.get_underlay_channel()
            await channel.close()


class PlainSubscription(RabbitSubscription):
    def __init__(self, channel: AbstractRobustChannel, queue: AbstractRobustQueue) -> None:
        super().__init__(channel, queue.name)
        self._queue = queue

    async def _consume(self, *, reopened: bool = False) -> None:
        # The robust queue has declared the queue and bound it again by then.
        channel = await self._channel.get_underlay_channel()
        channel.on_consumer_cancel_callbacks.add(self._cancelled)
        # robust=False: aio-pika would consume again on reopen by itself, and take a
        # broker-side cancel for its own to recover; both are done here instead.
        await self._queue.consume(self._deliver, consumer_tag=self._tag, robust=False)

    async def _cancel_consumer(self) -> None:
        if not self._channel.is_closed:
            await self._queue.cancel(self._tag)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        # aio-pika runs this in a task per message, started in the order of the
        # deliveries; nothing here awaits, so the subscription gets them in that order.
        self._arrived(
            Delivery(
                exchange=message.exchange or "",
                routing_key=message.routing_key or "",
                body=message.body,
                redelivered=bool(message.redelivered),
                handle=message,
                user_id=message.user_id,
            )
        )

    async def bind(self, exchange: str, pattern: str) -> None:
        await self._queue.bind(exchange, routing_key=pattern)

    async def unbind(self, exchange: str, pattern: str) -> None:
        await self._queue.unbind(exchange, routing_key=pattern)

    async def ack(self, delivery: Delivery, *, multiple: bool = False) -> None:
        try:
            await _message(delivery).ack(multiple=multiple)
        except CLOSED:
            log.debug("ack of a delivery from a closed channel dropped")

    async def reject(self, delivery: Delivery, *, requeue: bool = True) -> None:
        try:
            await _message(delivery).reject(requeue=requeue)
        except CLOSED:
            log.debug("reject of a delivery from a closed channel dropped")


def _message(delivery: Delivery) -> AbstractIncomingMessage:
    assert isinstance(delivery.handle, AbstractIncomingMessage), "a delivery of another bus"
    return delivery.handle
