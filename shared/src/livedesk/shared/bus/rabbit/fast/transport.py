"""The bus's socket to the broker, with routed deliveries and confirms taken out as bytes arrive.

aiormq opens its socket through a `TransportFactory` (its public extension point); ours puts a
`FrameSplitter` (`amqp_frames`) in the socket's protocol, so a routed delivery reaches its
consumer in the callback that received its bytes, and a tracked channel's confirms reach its
`ConfirmTracker`. Publishes go to this transport directly while its `WriteGate` is open.
aio-pika has no argument for the factory: `LeanRobustConnection` adds it to the keyword
arguments aio-pika hands aiormq on every (re)connect. Each new socket starts with no routes;
consumers add theirs again when their channels reopen on it.

Why, and what an upgrade could break: docs/adr/0001-fast-publish-path.md.
Not here: what a route does with a delivery (`consumer`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
import aiormq.abc
from yarl import URL

from livedesk.shared.bus.rabbit.fast.amqp_frames import (
    ConfirmRoute,
    DeliveryCallback,
    FrameSplitter,
    Route,
)
from livedesk.shared.bus.rabbit.fast.publish_confirms import ConfirmTracker
from livedesk.shared.bus.rabbit.fast.write_gate import WriteGate


class DeliveryRoutes(aiormq.TransportFactory):
    """Opens the connection's sockets; routes deliveries and confirms of the current one."""

    def __init__(self) -> None:
        self._routes: dict[int, Route] = {}
        self._confirms: dict[int, ConfirmRoute] = {}
        self._transport: asyncio.WriteTransport | None = None
        self._gate = WriteGate()

    def add(self, channel: aiormq.abc.AbstractChannel, tag: str, deliver: DeliveryCallback) -> None:
        """Hand `channel`'s deliveries for consumer `tag` to `deliver` (replaces its route)."""
        self._routes[channel.number] = Route(channel, tag, deliver)

    def discard(self, channel: aiormq.abc.AbstractChannel) -> None:
        route = self._routes.get(channel.number)
        if route is not None and route.channel is channel:
            del self._routes[channel.number]

    def track_confirms(self, channel: aiormq.abc.AbstractChannel) -> ConfirmTracker:
        """Publish on `channel` straight to the socket, its confirms taken from the socket.

        The channel must be open on the current socket and in confirm mode, and nothing
        else may publish on it. Its tracker fails what is in flight when it closes.
        """
        if not isinstance(channel, aiormq.Channel):
            raise TypeError(f"confirms are tracked on aiormq's own channel, not {channel!r}")
        transport = self._transport
        if transport is None or transport.is_closing() or channel.is_closed:
            raise ConnectionError("no open socket to publish on")
        tracker = ConfirmTracker(channel, transport, self._gate)
        confirms = self._confirms  # this socket's: a later socket starts with none
        confirms[channel.number] = ConfirmRoute(channel, tracker.confirm)

        def closed(closing: asyncio.Future[Any]) -> None:
            reason = None if closing.cancelled() else closing.exception()
            tracker.fail(reason)
            route = confirms.get(channel.number)
            if route is not None and route.channel is channel:
                del confirms[channel.number]

        channel.closing.add_done_callback(closed)
        return tracker

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # What aiormq's TCP and TLS factories do, with our protocol in the middle.
        assert url.host is not None, "aiormq refuses a URL without a host"
        assert url.port is not None, "aiormq puts the scheme's default port in the URL"
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider else None
        loop = asyncio.get_running_loop()
        self._routes, self._confirms, self._transport = {}, {}, None
        self._gate = gate = WriteGate()
        reader = asyncio.StreamReader(loop=loop)
        splitter = FrameSplitter(self._routes, self._confirms, gate.block)
        protocol = _SplittingProtocol(reader, splitter, gate, loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, host=url.host, port=url.port, ssl=ssl, **kwargs
            )
        except OSError as error:
            raise aiormq.exceptions.AMQPConnectionError(*error.args) from error
        self._transport = transport
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class _SplittingProtocol(asyncio.StreamReaderProtocol):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        splitter: FrameSplitter,
        gate: WriteGate,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(reader, loop=loop)
        self._splitter, self._gate, self._loop = splitter, gate, loop

    # The transport's flow control reaches aiormq's writer (StreamWriter.drain) as before,
    # and our publishers through the gate.
    def pause_writing(self) -> None:
        super().pause_writing()
        self._gate.pause(True)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._gate.pause(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.lose(exc)
        super().connection_lost(exc)

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
