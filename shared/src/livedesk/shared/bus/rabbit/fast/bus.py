"""The RabbitMQ bus on the hand-written path: batches written to the socket in one piece,
confirms and deliveries parsed from it, consumers and bindings on aiormq's channel.

aio-pika's Message and Exchange wrappers cost more Python per publish than the frames
themselves, and aiormq's path costs turns of the event loop per batch (`publish_confirms`):
here a batch is encoded in one piece (`batch_publish`), written when the socket's gate is
open (`write_gate`), and its confirms settle one future. Consumers take their deliveries
from the socket's bytes (`consumer`). Connecting, retries, abandoned publishes and the
subscription's life are the plain bus's (`rabbit.bus`), which `RabbitBus.connect` opens
instead when `compat` finds what this path relies on changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import ClassVar

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)

from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit.bus import RabbitBus
from livedesk.shared.bus.rabbit.fast.batch_publish import encode_batch
from livedesk.shared.bus.rabbit.fast.consumer import FastSubscription
from livedesk.shared.bus.rabbit.fast.publish_confirms import ConfirmTracker
from livedesk.shared.bus.rabbit.fast.transport import LeanRobustConnection
from livedesk.shared.bus.rabbit.subscription import RabbitSubscription
from livedesk.shared.settings import BusSettings


class FastRabbitBus(RabbitBus):
    connection_class: ClassVar[type[aio_pika.RobustConnection]] = LeanRobustConnection

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        exchanges: Mapping[str, AbstractExchange],
        settings: BusSettings,
        user_id: str,
    ) -> None:
        super().__init__(connection, channel, exchanges, settings, user_id)
        assert isinstance(connection, LeanRobustConnection), "opened by RabbitBus.connect"
        self._routes = connection.routes
        # Of the publisher's current aiormq channel; a reopened channel gets its own.
        self._confirms: ConfirmTracker | None = None

    @property
    def unconfirmed_bytes(self) -> int:
        return 0 if self._confirms is None else self._confirms.unconfirmed_bytes

    async def _send(self, messages: Sequence[Message]) -> asyncio.Future[None]:
        channel = await self._publisher.get_underlay_channel()
        confirms = self._confirms
        if confirms is None or confirms.channel is not channel:
            confirms = self._confirms = self._routes.track_confirms(channel)
        await confirms.writable()
        # Nothing awaited from here to the write: the gate is still open.
        payload = encode_batch(
            channel.number, confirms.channel.max_content_size, messages, self.user_id
        )
        return confirms.send(payload, len(messages))

    def _subscription(
        self, channel: AbstractRobustChannel, queue: AbstractRobustQueue
    ) -> RabbitSubscription:
        return FastSubscription(channel, queue, self._routes)
