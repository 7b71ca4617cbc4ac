"""The bus's socket to the broker, with routed deliveries taken out as bytes arrive.

aiormq opens its socket through a `TransportFactory` (a public extension point of aiormq);
ours puts a `FrameSplitter` (`amqp_frames`) in the socket's protocol, so a routed delivery
reaches its consumer in the callback that received its bytes: no pamqp objects, no frame
queue, no task per message. Everything else reaches aiormq as it would have.

aio-pika has no argument for aiormq's transport factory; `LeanRobustConnection` adds it to
the keyword arguments aio-pika hands to aiormq on every (re)connect. Each new socket starts
with no routes: consumers add theirs again when their channels reopen on it.

What an aio-pika or aiormq upgrade (checked: aio-pika 10.2.1, aiormq 7.2.4) could break, and
which test says so: aio-pika no longer handing its connection's `kwargs` to `aiormq.connect`,
or aiormq no longer taking `transport_factory`: deliveries take aiormq's own path again,
slower but correct (test_bus_fast_deliveries: the handler runs in a task). aiormq keeping
state of its own from Deliver frames (7.2.4 keeps none: its consumer callback is all a
Deliver reaches), or reading other than through the StreamReader it is given. aiormq's
stuck-connection check counting something other than frames read (test_bus_fast_deliveries:
a receive-only connection stays up).

Not here: what a route does with a delivery (`rabbit_consumer`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
import aiormq.abc
from yarl import URL

from livedesk.shared.bus.amqp_frames import DeliveryCallback, FrameSplitter, Route


class DeliveryRoutes(aiormq.TransportFactory):
    """Opens the connection's sockets; routes deliveries of the current one."""

    def __init__(self) -> None:
        self._routes: dict[int, Route] = {}

    def add(self, channel: aiormq.abc.AbstractChannel, tag: str, deliver: DeliveryCallback) -> None:
        """Hand `channel`'s deliveries for consumer `tag` to `deliver` (replaces its route)."""
        self._routes[channel.number] = Route(channel, tag, deliver)

    def discard(self, channel: aiormq.abc.AbstractChannel) -> None:
        route = self._routes.get(channel.number)
        if route is not None and route.channel is channel:
            del self._routes[channel.number]

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # What aiormq's TCP and TLS factories do, with our protocol in the middle.
        assert url.host is not None, "aiormq refuses a URL without a host"
        assert url.port is not None, "aiormq puts the scheme's default port in the URL"
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider else None
        loop = asyncio.get_running_loop()
        self._routes = {}
        reader = asyncio.StreamReader(loop=loop)
        protocol = _SplittingProtocol(reader, FrameSplitter(self._routes, {}), loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, host=url.host, port=url.port, ssl=ssl, **kwargs
            )
        except OSError as error:
            raise aiormq.exceptions.AMQPConnectionError(*error.args) from error
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class _SplittingProtocol(asyncio.StreamReaderProtocol):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        splitter: FrameSplitter,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(reader, loop=loop)
        self._splitter, self._loop = splitter, loop

    def data_received(self, data: bytes) -> None:
        if rest := self._splitter.feed(data, self._loop.time()):
            super().data_received(rest)

    def eof_received(self) -> bool | None:
        if rest := self._splitter.flush():
            super().data_received(rest)
        return super().eof_received()


class LeanRobustConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection, opening its sockets through `routes`."""

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any):
        super().__init__(url, loop, **kwargs)
        self.routes = DeliveryRoutes()
        self.kwargs["transport_factory"] = self.routes
