"""The bus on RabbitMQ: aio-pika's plain path here, and the choice of the fast one (`fast`).

One robust connection per bus. It reconnects by itself; on reconnect aio-pika re-declares
the exchanges, queues and bindings it saw, our consumers consume again, and then we call the
subscriptions' restore callbacks. Publishing uses its own channel with publisher confirms
and retries through an outage, up to `publish_timeout_s`. A retried publish whose first try
was in flight when the connection died may arrive twice: consumers deduplicate (offsets).

Each publish carries the bus's broker user as its AMQP user_id (`broker_user`: the URL's),
which RabbitMQ checks against the connection's login, so a consumer can tell who published
what (docs/security.md, "Broker users").

Bounded under pressure: a publish waits before it writes while the broker has blocked the
connection (a memory or disk alarm), and a retry of messages whose earlier publish was given
up before its confirm waits for that confirm instead of writing them again
(`abandoned`). What the bus holds for the broker is `unconfirmed_bytes`.

`RabbitBus.connect` opens the fast path (`fast.bus`, frames written and parsed past aiormq)
when `BusSettings.fast_path` asks for it and the check of what it relies on passed at
import (`fast.compat`); otherwise this class, on aio-pika's public API, with one warning
saying why. Both pass the same contract suite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import ClassVar, Final

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)
from yarl import URL

from livedesk.shared.bus.base import Bus, Message, Subscription
from livedesk.shared.bus.rabbit.abandoned import AbandonedPublishes
from livedesk.shared.bus.rabbit.closed import TRANSIENT
from livedesk.shared.bus.rabbit.fast.compat import FAST_PATH_PROBLEM
from livedesk.shared.bus.rabbit.subscription import PlainSubscription, RabbitSubscription
from livedesk.shared.errors import BusError
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import EXCHANGES, QueueSpec

log = logging.getLogger(__name__)

# Who aio-pika logs in as when the URL names no user (RabbitMQ's default user).
DEFAULT_USER: Final = "guest"


def fast_path_chosen(settings: BusSettings, problem: str | None) -> bool:
    """Whether to run on the fast path: asked for, and nothing it relies on is missing."""
    if not settings.fast_path:
        return False
    if problem is not None:
        log.warning("RabbitMQ bus on aio-pika's plain publish path: %s", problem)
        return False
    return True


class RabbitBus(Bus):
    connection_class: ClassVar[type[aio_pika.RobustConnection]] = aio_pika.RobustConnection

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        exchanges: Mapping[str, AbstractExchange],
        settings: BusSettings,
        user_id: str,
    ) -> None:
        self.user_id: str | None = user_id
        self._connection = connection
        self._publisher = channel
        self._exchanges = exchanges
        self._settings = settings
        # A copy confirmed after its caller left counts for a retry as long as the bus
        # itself goes on retrying a publish.
        loop = asyncio.get_running_loop()
        self._abandoned = AbandonedPublishes(loop.time, settings.publish_timeout_s)
        # Publishes under way (the plain path's, each a task of its own), by size in bytes.
        self._sending: dict[asyncio.Task[None], int] = {}

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, settings: BusSettings | None = None, *, name: str = "livedesk"
    ) -> AsyncIterator[RabbitBus]:
        """Connect (retrying while the broker starts), declare the exchanges, close on exit.

        The bus is a `FastRabbitBus` when `fast_path_chosen`, whichever class this is
        called on.
        """
        settings = settings or BusSettings()
        kind: type[RabbitBus] = RabbitBus
        if fast_path_chosen(settings, FAST_PATH_PROBLEM):
            # Imported only once the check passed: its modules use what the check looks for.
            from livedesk.shared.bus.rabbit.fast.bus import FastRabbitBus

            kind = FastRabbitBus
        connection = await _connect(url, settings, name, kind.connection_class)
        bus: RabbitBus | None = None
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchanges = {
                name: await channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True
                )
                for name in EXCHANGES
            }
            bus = kind(connection, channel, exchanges, settings, broker_user(url))
            yield bus
        finally:
            await connection.close()
            if bus is not None:
                await bus._closed()

    @property
    def unconfirmed_bytes(self) -> int:
        """Bytes of publishes sent or queued to be sent and not confirmed yet."""
        return sum(self._sending.values())

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
                    await self._publish_once(messages)
        except TRANSIENT as error:
            raise BusError(f"broker did not accept {len(messages)} message(s): {error}") from error

    async def _publish_once(self, messages: Sequence[Message]) -> None:
        # The confirms are awaited shielded: a caller that gives up leaves the publish in
        # flight, on record for a retry to wait for (`abandoned`).
        claims = self._abandoned.claim(messages)
        sent: asyncio.Future[None] | None = None
        try:
            if claims.fresh:
                sent = await self._send(claims.fresh)
            waits = [*claims.waits(), *([sent] if sent is not None else [])]
            async with asyncio.timeout(self._settings.publish_timeout_s):
                await asyncio.shield(asyncio.gather(*waits))
        except BaseException:
            self._abandoned.give_back(claims)
            if sent is not None:
                self._abandoned.abandon(claims.fresh, sent)
            raise

    async def _send(self, messages: Sequence[Message]) -> asyncio.Future[None]:
        """Start publishing `messages`, in order, once the broker takes publishes; the future
        settles once every one is confirmed (BusError for a refusal)."""
        transport = self._connection.transport
        if transport is None:
            raise ConnectionError("no connection to publish on")
        # aiormq's ready() also waits while the broker has blocked the connection: its
        # writer would go on writing (it checks only when it starts) what the broker
        # does not read.
        await transport.connection.ready()
        task = asyncio.create_task(self._publish_each(messages))
        self._sending[task] = sum(len(m.body) for m in messages)
        task.add_done_callback(self._sending.pop)
        return task

    async def _publish_each(self, messages: Sequence[Message]) -> None:
        # Each publish takes the channel's lock, which is FIFO, and the tasks start in
        # order, so the frames go out in the order given; aiormq waits for the socket to
        # drain past its buffer's high-water mark before the next.
        results = await asyncio.gather(
            *(
                self._exchanges[message.exchange].publish(
                    aio_pika.Message(
                        message.body,
                        content_type="application/json",
                        user_id=self.user_id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                        if message.persistent
                        else aio_pika.DeliveryMode.NOT_PERSISTENT,
                    ),
                    routing_key=message.routing_key,
                    mandatory=False,
                )
                for message in messages
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, aio_pika.exceptions.DeliveryError):
                raise BusError(f"broker refused a message: {result!r}") from result
            if isinstance(result, asyncio.CancelledError):
                # aiormq cancels the confirms in flight when its connection dies.
                raise ConnectionError("connection lost before the confirm") from result
            if isinstance(result, BaseException):
                raise result

    async def _closed(self) -> None:
        """The connection is closed: wait out the publishes it failed."""
        await asyncio.gather(*self._sending, return_exceptions=True)

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
            subscription = self._subscription(channel, queue)

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

    def _subscription(
        self, channel: AbstractRobustChannel, queue: AbstractRobustQueue
    ) -> RabbitSubscription:
        return PlainSubscription(channel, queue)


def broker_user(url: str) -> str:
    """The user an AMQP URL logs in as: the broker checks a publish's user_id against it."""
    return URL(url).user or DEFAULT_USER


async def _connect(
    url: str, settings: BusSettings, name: str, kind: type[aio_pika.RobustConnection]
) -> aio_pika.RobustConnection:
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
                connection_class=kind,
            )
            assert isinstance(connection, kind)
            return connection
    raise AssertionError("unreachable: AsyncRetrying re-raises the last error")
