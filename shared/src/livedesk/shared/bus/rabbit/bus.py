"""The bus on RabbitMQ, through aio-pika.

One robust connection per bus. It reconnects by itself; on reconnect aio-pika re-declares
the exchanges, queues and bindings it saw, our consumers consume again (`rabbit.fast.consumer`),
and then we call the subscriptions' restore callbacks. Publishing uses its own channel with
publisher confirms and retries with tenacity through an outage, up to `publish_timeout_s`.
A retried publish whose first try was in flight when the connection died may arrive twice:
consumers deduplicate (offsets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Self

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from livedesk.shared.bus.base import Bus, Message, Subscription
from livedesk.shared.bus.rabbit.fast.batch_publish import encode_batch
from livedesk.shared.bus.rabbit.fast.consumer import CLOSED, RabbitSubscription
from livedesk.shared.bus.rabbit.fast.publish_confirms import ConfirmTracker
from livedesk.shared.bus.rabbit.fast.transport import DeliveryRoutes, LeanRobustConnection
from livedesk.shared.errors import BusError
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import EXCHANGES, QueueSpec

log = logging.getLogger(__name__)

# What a dropped connection or channel looks like from aio-pika; worth waiting out. A
# channel closed under a publish is among them: every exchange we publish to was declared
# at connect, so it is the connection going down, not a refusal.
TRANSIENT = (*CLOSED, asyncio.TimeoutError)


class RabbitBus(Bus):
    def __init__(
        self,
        connection: AbstractRobustConnection,
        routes: DeliveryRoutes,
        channel: AbstractRobustChannel,
        exchanges: Mapping[str, AbstractExchange],
        settings: BusSettings,
    ) -> None:
        self._connection = connection
        self._routes = routes
        self._publisher = channel
        self._exchanges = exchanges
        self._settings = settings
        # Of the publisher's current aiormq channel; a reopened channel gets its own.
        self._confirms: ConfirmTracker | None = None

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
            yield cls(connection, connection.routes, channel, exchanges, settings)
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
        # frames themselves, and aiormq's path costs turns of the event loop per batch
        # (`publish_confirms`): the batch is written in one piece and its confirms settle
        # one future. The confirm is what says the broker has each message.
        channel = await self._publisher.get_underlay_channel()
        confirms = self._confirms
        if confirms is None or confirms.channel is not channel:
            confirms = self._confirms = self._routes.track_confirms(channel)
        payload = encode_batch(channel.number, confirms.channel.max_content_size, messages)
        async with asyncio.timeout(self._settings.publish_timeout_s):
            await confirms.send(payload, len(messages))

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
            subscription = RabbitSubscription(channel, queue, self._routes)

            async def restored(*_: object) -> None:
                await subscription._restored()

            self._connection.reconnect_callbacks.add(restored)
            await subscription.start()
            try:
                yield subscription
            finally:
                self._connection.reconnect_callbacks.discard(restored)
                try:
                    await subscription.stop()
                except TRANSIENT:
                    log.debug("cancel on a closed channel skipped")
        finally:
            if not channel.is_closed:
                await channel.close()


async def _connect(url: str, settings: BusSettings, name: str) -> LeanRobustConnection:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((*TRANSIENT, OSError)),
        stop=stop_after_delay(settings.connect_timeout_s),
        wait=wait_exponential(multiplier=0.1, max=settings.reconnect_interval_s),
        reraise=True,
    ):
        with attempt:
            connection = await aio_pika.connect_robust(
                url,
                reconnect_interval=settings.reconnect_interval_s,
                client_properties={"connection_name": name},
                connection_class=LeanRobustConnection,
            )
            assert isinstance(connection, LeanRobustConnection)
            return connection
    raise AssertionError("unreachable: AsyncRetrying re-raises the last error")
