"""Consuming one queue on aiormq's channel directly, under aio-pika's robust channel.

Why not aio-pika's `Queue.consume`: for every message it builds an `IncomingMessage` and
starts a task of its own for the callback, on top of the task aiormq already starts per
message; a gateway node in the sparse workload (one event per wake-up) spent about a tenth
of its profile samples there (py-spy, bench.gateway_bench sparse). Why not aiormq's consumer
callback either: aiormq's frame objects, frame queue and task per message cost more than
the rest of a delivery. So each time it consumes, the subscription routes its channel's
deliveries (`transport`): they are parsed as their bytes arrive and handed to the
subscription (its buffer, or its handler) right there. The aiormq callback stays, for a
delivery the route did not take (one in flight as the consumer stops). Acks and rejects go
to the aiormq channel the delivery came on, by its tag.

What aio-pika would have restored for its own consumer is restored here: the robust channel
still re-declares the queue and its declared bindings when it reopens (after a broker reconnect
or a channel error), and its reopen callback binds the run-time bindings again
(`bindings`: bind and unbind go to aiormq's channel, not through aio-pika's queue, whose
unbind cost grew with the bindings held) and consumes again with the same tag. A consumer the
broker cancels (its queue deleted) closes its channel, so that the robust channel reopens,
declares the queue again and the consumer comes back, as aio-pika recovers its own; the
subscription's restore callbacks run then, as after a reconnect, since whatever was routed to
the deleted queue is gone.

A delivery holds the aiormq channel it came on: an ack after that channel closed is dropped
(the broker has requeued the message already), never sent with its tag on the new channel,
where the same number means another message.

Not here: declaring the queue, connecting, publishing (`rabbit.bus`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import NamedTuple

import aiormq
from aio_pika.abc import AbstractQueue, AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from livedesk.shared.bus.base import Delivery
from livedesk.shared.bus.rabbit.closed import CLOSED
from livedesk.shared.bus.rabbit.fast.amqp_frames import DeliveryCallback
from livedesk.shared.bus.rabbit.fast.bindings import RuntimeBindings
from livedesk.shared.bus.rabbit.fast.transport import DeliveryRoutes
from livedesk.shared.bus.rabbit.subscription import RabbitSubscription

log = logging.getLogger(__name__)


class FastSubscription(RabbitSubscription):
    def __init__(
        self, channel: AbstractRobustChannel, queue: AbstractQueue, routes: DeliveryRoutes
    ) -> None:
        super().__init__(queue.name)
        self._channel, self._routes = channel, routes
        self._bindings = RuntimeBindings(queue.name)
        self._consuming: aiormq.abc.AbstractChannel | None = None
        # One tag for the subscription's life: a consumer restored after a reconnect is the
        # same consumer to the broker's management view and to our logs.
        self._tag = f"livedesk.{secrets.token_hex(8)}"
        self._stopped = False
        # Set by a broker-side cancel: the queue was deleted, and what came meanwhile is lost.
        self._lost = False
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._channel.reopen_callbacks.add(self._reopened)
        await self._consume()

    async def stop(self) -> None:
        self._stopped = True
        self._channel.reopen_callbacks.discard(self._reopened)
        if self._consuming is not None:
            self._routes.discard(self._consuming)
        if self._channel.is_closed:
            return  # and so is the consumer
        channel = await self._channel.get_underlay_channel()
        await channel.basic_cancel(self._tag)

    async def _consume(self, *, rebind: bool = False) -> None:
        channel = await self._channel.get_underlay_channel()
        if rebind:
            await self._bindings.restore(channel)
        channel.on_consumer_cancel_callbacks.add(self._cancelled)
        # Routed before the consume: the first delivery may follow the ConsumeOk at once.
        if self._consuming is not None:
            self._routes.discard(self._consuming)  # a channel an error closed
        self._consuming = channel
        self._routes.add(channel, self._tag, self._route_delivery(channel))
        await channel.basic_consume(self.queue_name, self._deliver, consumer_tag=self._tag)

    async def _reopened(self, _: object) -> None:
        # aio-pika's callback collection swallows what this raises: say it, at least. The
        # channel is closed again in that case, and its next reopen consumes again.
        if self._stopped:
            return
        try:
            await self._consume(rebind=True)
        except Exception:
            log.exception("consumer of %s not restored with its channel", self.queue_name)
            return
        if self._lost:
            self._lost = False
            await self._restored()

    def _cancelled(self, frame: spec.Basic.Cancel) -> None:
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

    def _route_delivery(self, channel: aiormq.abc.AbstractChannel) -> DeliveryCallback:
        def deliver(
            exchange: str, routing_key: str, body: bytes, redelivered: bool, tag: int
        ) -> None:
            self._arrived(Delivery(exchange, routing_key, body, redelivered, _Handle(channel, tag)))

        return deliver

    async def _deliver(self, message: DeliveredMessage) -> None:
        # aiormq runs this in a task per message, in the order of the deliveries; nothing
        # here awaits, so the subscription gets them in that order. Only what the route
        # did not take comes here.
        frame = message.delivery
        assert isinstance(frame, spec.Basic.Deliver), "a consumer gets only deliveries"
        assert frame.delivery_tag is not None, "the broker tags every delivery"
        self._arrived(
            Delivery(
                exchange=frame.exchange or "",
                routing_key=frame.routing_key or "",
                body=message.body,
                redelivered=bool(frame.redelivered),
                handle=_Handle(message.channel, frame.delivery_tag),
            )
        )

    async def bind(self, exchange: str, pattern: str) -> None:
        channel = await self._channel.get_underlay_channel()
        await self._bindings.bind(channel, exchange, pattern)

    async def unbind(self, exchange: str, pattern: str) -> None:
        channel = await self._channel.get_underlay_channel()
        await self._bindings.unbind(channel, exchange, pattern)

    async def ack(self, delivery: Delivery, *, multiple: bool = False) -> None:
        channel, tag = _handle(delivery)
        try:
            await channel.basic_ack(tag, multiple=multiple)
        except CLOSED:
            log.debug("ack of a delivery from a closed channel dropped")

    async def reject(self, delivery: Delivery, *, requeue: bool = True) -> None:
        channel, tag = _handle(delivery)
        try:
            await channel.basic_reject(tag, requeue=requeue)
        except CLOSED:
            log.debug("reject of a delivery from a closed channel dropped")


class _Handle(NamedTuple):
    channel: aiormq.abc.AbstractChannel
    tag: int


def _handle(delivery: Delivery) -> _Handle:
    assert isinstance(delivery.handle, _Handle), "a delivery of another bus"
    return delivery.handle
