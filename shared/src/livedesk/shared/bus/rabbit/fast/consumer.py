"""Consuming one queue on aiormq's channel directly, under aio-pika's robust channel.

Each time it consumes, the subscription routes its channel's deliveries (`transport`): they are
parsed as their bytes arrive and handed to the subscription right there, with no
`IncomingMessage` and no task per message. aiormq's own callback stays, for a delivery the
route did not take (one in flight as the consumer stops). Run-time bindings go through
`bindings`. A delivery holds the aiormq channel it came on: an ack after that channel closed is
dropped (the broker has requeued the message), never sent with its tag on the new channel,
where the same number means another message.

Why: docs/adr/0001-fast-publish-path.md. The lifecycle both paths share (consume again on
reopen, a broker-side cancel): `rabbit.subscription`. Not here: declaring, connecting,
publishing (`rabbit.bus`).
"""

from __future__ import annotations

import logging
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
        super().__init__(channel, queue.name)
        self._routes = routes
        self._bindings = RuntimeBindings(queue.name)
        self._consuming: aiormq.abc.AbstractChannel | None = None

    async def _consume(self, *, reopened: bool = False) -> None:
        channel = await self._channel.get_underlay_channel()
        if reopened:
            await self._bindings.restore(channel)
        channel.on_consumer_cancel_callbacks.add(self._cancelled)
        # Routed before the consume: the first delivery may follow the ConsumeOk at once.
        if self._consuming is not None:
            self._routes.discard(self._consuming)  # a channel an error closed
        self._consuming = channel
        self._routes.add(channel, self._tag, self._route_delivery(channel))
        await channel.basic_consume(self.queue_name, self._deliver, consumer_tag=self._tag)

    async def _cancel_consumer(self) -> None:
        if self._consuming is not None:
            self._routes.discard(self._consuming)
        if self._channel.is_closed:
            return  # and so is the consumer
        channel = await self._channel.get_underlay_channel()
        await channel.basic_cancel(self._tag)

    def _route_delivery(self, channel: aiormq.abc.AbstractChannel) -> DeliveryCallback:
        def deliver(
            exchange: str,
            routing_key: str,
            body: bytes,
            redelivered: bool,
            tag: int,
            user_id: str | None,
        ) -> None:
            handle = _Handle(channel, tag)
            self._arrived(Delivery(exchange, routing_key, body, redelivered, handle, user_id))

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
                user_id=message.header.properties.user_id,
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
