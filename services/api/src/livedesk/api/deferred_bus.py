"""A `Bus` that exists before its broker connection does.

The API must start, serve and accept writes while RabbitMQ is down (the outbox keeps the
events). `DeferredBus` is handed to the relay at once; `connect_forever` attaches the real
bus whenever the broker first answers. Until then a publish fails at once with `BusError`,
and the relay retries on its next sweep. Not here: reconnects after the first connection
(the robust connection inside `RabbitBus` does those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from livedesk.shared.bus.base import Bus, Message, Subscription
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.errors import BusError
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import QueueSpec

log = logging.getLogger(__name__)


class DeferredBus(Bus):
    def __init__(self) -> None:
        self._inner: Bus | None = None

    @property
    def connected(self) -> bool:
        return self._inner is not None

    def attach(self, bus: Bus | None) -> None:
        self._inner = bus

    def _bus(self) -> Bus:
        if self._inner is None:
            raise BusError("not connected to the broker yet")
        return self._inner

    async def publish(self, message: Message) -> None:
        await self._bus().publish(message)

    async def publish_many(self, messages: Sequence[Message]) -> None:
        await self._bus().publish_many(messages)

    def subscribe(
        self, spec: QueueSpec, *, prefetch: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        return self._bus().subscribe(spec, prefetch=prefetch)

    async def connect_forever(self, url: str, settings: BusSettings, *, name: str) -> None:
        """Connect (retrying until it works), attach, and hold the connection until cancelled."""
        while True:
            try:
                async with RabbitBus.connect(url, settings, name=name) as bus:
                    self.attach(bus)
                    try:
                        await asyncio.Event().wait()  # held open until the service stops
                    finally:
                        self.attach(None)
            except Exception as error:  # task boundary: whatever failed, the answer is retry
                log.warning("broker not reachable yet (%s); retrying", error)
                await asyncio.sleep(settings.reconnect_interval_s)
