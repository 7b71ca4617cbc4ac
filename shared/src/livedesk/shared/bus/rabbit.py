"""The bus on RabbitMQ, through aio-pika.

One robust connection per bus. It reconnects by itself; on reconnect aio-pika re-declares
the exchanges, queues, bindings and consumers it saw, and then we call the subscriptions'
restore callbacks. Publishing uses its own channel with publisher confirms and retries with
tenacity through an outage, up to `publish_timeout_s`. A retried publish whose first try was
in flight when the connection died may arrive twice: consumers deduplicate (offsets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Self

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from livedesk.shared.bus.base import Bus, Delivery, Message, Subscription
from livedesk.shared.errors import BusError
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import EXCHANGES, QueueSpec

log = logging.getLogger(__name__)

PERSISTENT = aiormq.spec.Basic.Properties(delivery_mode=2, content_type="application/json")
TRANSIENT_PROPERTIES = aiormq.spec.Basic.Properties(
    delivery_mode=1, content_type="application/json"
)

# What a dropped connection or channel looks like from aio-pika; worth waiting out.
TRANSIENT = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    # A channel closed under us: every exchange we publish to was declared at connect, so
    # this is the connection going down, not a refusal.
    aiormq.exceptions.ChannelClosed,
    ConnectionError,
    asyncio.TimeoutError,
)


class RabbitSubscription(Subscription):
    def __init__(self, queue: AbstractQueue) -> None:
        super().__init__(queue.name)
        self._queue = queue

    async def consume(self, message: AbstractIncomingMessage) -> None:
        # Called by aio-pika for each message: hand it over, the consumer loop settles it.
        self._buffer.put_nowait(
            Delivery(
                exchange=message.exchange or "",
                routing_key=message.routing_key or "",
                body=message.body,
                redelivered=bool(message.redelivered),
                handle=message,
            )
        )

    async def bind(self, exchange: str, pattern: str) -> None:
        await self._queue.bind(exchange, routing_key=pattern)

    async def unbind(self, exchange: str, pattern: str) -> None:
        await self._queue.unbind(exchange, routing_key=pattern)

    async def ack(self, delivery: Delivery, *, multiple: bool = False) -> None:
        try:
            await _message(delivery).ack(multiple=multiple)
        except TRANSIENT:
            # The channel it came on is gone: the broker has already requeued it.
            log.debug("ack of a delivery from a closed channel dropped")

    async def reject(self, delivery: Delivery, *, requeue: bool = True) -> None:
        try:
            await _message(delivery).reject(requeue=requeue)
        except TRANSIENT:
            log.debug("reject of a delivery from a closed channel dropped")


class RabbitBus(Bus):
    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        exchanges: Mapping[str, AbstractExchange],
        settings: BusSettings,
    ) -> None:
        self._connection = connection
        self._publisher = channel
        self._exchanges = exchanges
        self._settings = settings

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, settings: BusSettings | None = None, *, name: str = "livedesk"
    ) -> AsyncIterator[Self]:
        """Connect (retrying while the broker starts), declare the exchanges, close on exit."""
        settings = settings or BusSettings()
        connection = await _connect(url, settings, name)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchanges = {
                name: await channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True
                )
                for name in EXCHANGES
            }
            yield cls(connection, channel, exchanges, settings)
        finally:
            await connection.close()

    async def publish(self, message: Message) -> None:
        await self.publish_many([message])

    async def publish_many(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        if unknown := {m.exchange for m in messages} - self._exchanges.keys():
            raise BusError(f"no exchange {', '.join(sorted(unknown))}")
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TRANSIENT),
                stop=stop_after_delay(self._settings.publish_timeout_s),
                wait=wait_exponential(multiplier=0.05, max=self._settings.reconnect_interval_s),
                reraise=True,
            ):
                with attempt:
                    await self._publisher.ready()
                    await self._publish_pipelined(messages)
        except TRANSIENT as error:
            raise BusError(f"broker did not accept {len(messages)} message(s): {error}") from error

    async def _publish_pipelined(self, messages: Sequence[Message]) -> None:
        # aio-pika's Message and Exchange wrappers cost more Python per publish than the
        # frames themselves; the underlying aiormq channel takes prebuilt properties. Its
        # publish lock is FIFO and gather starts its tasks in order, so frames go out in the
        # order given while the confirms are awaited together. wait=False: by default each
        # publish holds that lock until the writer task has put its frames on the socket,
        # which costs every message two turns of the event loop, one after the other; a
        # relay sharing its loop with a busy API took ~9 ms a message that way. The frames
        # still go out in order, and the confirm is what says the broker has the message.
        channel = await self._publisher.get_underlay_channel()
        timeout = self._settings.publish_timeout_s
        results = await asyncio.gather(
            *(
                channel.basic_publish(
                    message.body,
                    exchange=message.exchange,
                    routing_key=message.routing_key,
                    properties=PERSISTENT if message.persistent else TRANSIENT_PROPERTIES,
                    timeout=timeout,
                    wait=False,  # type: ignore[call-arg]  # aiormq has it; its ABC lacks it
                )
                for message in messages
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                # aiormq cancels the confirms in flight when the connection dies; our own
                # cancellation would have been raised by gather itself.
                raise ConnectionError("connection lost before the confirm") from result
            if isinstance(result, aiormq.exceptions.DeliveryError):
                raise BusError(f"broker refused a message: {result!r}") from result
            if isinstance(result, BaseException):
                raise result
            if not isinstance(result, aiormq.spec.Basic.Ack):
                raise BusError(f"broker refused a message: {result!r}")

    @asynccontextmanager
    async def subscribe(
        self, spec: QueueSpec, *, prefetch: int | None = None
    ) -> AsyncIterator[Subscription]:
        channel = await self._connection.channel()
        try:
            await channel.set_qos(prefetch_count=prefetch or self._settings.prefetch)
            queue = await channel.declare_queue(
                spec.name,
                durable=spec.durable,
                exclusive=spec.exclusive,
                auto_delete=spec.auto_delete,
                arguments=spec.arguments or None,
            )
            for exchange, pattern in spec.bindings:
                await queue.bind(exchange, routing_key=pattern)
            subscription = RabbitSubscription(queue)

            async def restored(*_: object) -> None:
                await subscription._restored()

            self._connection.reconnect_callbacks.add(restored)
            tag = await queue.consume(subscription.consume)
            try:
                yield subscription
            finally:
                self._connection.reconnect_callbacks.discard(restored)
                if not channel.is_closed:
                    try:
                        await queue.cancel(tag)
                    except TRANSIENT:
                        log.debug("cancel on a closed channel skipped")
        finally:
            if not channel.is_closed:
                await channel.close()


async def _connect(url: str, settings: BusSettings, name: str) -> AbstractRobustConnection:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((*TRANSIENT, OSError)),
        stop=stop_after_delay(settings.connect_timeout_s),
        wait=wait_exponential(multiplier=0.1, max=settings.reconnect_interval_s),
        reraise=True,
    ):
        with attempt:
            return await aio_pika.connect_robust(
                url,
                reconnect_interval=settings.reconnect_interval_s,
                client_properties={"connection_name": name},
            )
    raise AssertionError("unreachable: AsyncRetrying re-raises the last error")


def _message(delivery: Delivery) -> AbstractIncomingMessage:
    assert isinstance(delivery.handle, AbstractIncomingMessage), "a delivery of another bus"
    return delivery.handle
