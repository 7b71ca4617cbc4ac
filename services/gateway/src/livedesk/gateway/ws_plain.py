"""The gateway's sockets on the `websockets` library's public API only.

`serve` is the library's `serve()` on the node's bound socket, without compression (per-socket
zlib state, and every socket's bytes would differ) and without the library's keepalive task
per socket (the node's sweeper pings through `keepalive`). `PlainSocket` writes with
`broadcast()`, pings with `ping()`, and reads how much waits in the transport its connection
was made with (asyncio's protocol callback, through the `create_connection` subclass the
library offers). It is what runs when fast writes are off or their check failed, and what
the fast path (ws_fast.py) is measured against.

Deliberately not here: choosing the path and the HTTP routes (ws_server.py), what the gateway
does with a socket (node.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from livedesk.gateway.node import Node
from livedesk.gateway.sockets import OutFrame, SocketClosed

# A close handshake with a peer that does not read cannot take longer than this.
CLOSE_TIMEOUT_S: Final = 5.0
# An opening handshake (the HTTP request after the TCP connect) may take this long.
OPEN_TIMEOUT_S: Final = 10.0
# A reconnect storm (a node drained or killed) brings thousands of connects at once;
# asyncio's default backlog of 100 drops them (the kernel caps it at somaxconn).
BACKLOG: Final = 4096
# Frames received and not yet read by the node, per socket: it reads each as it comes.
MAX_QUEUE: Final = 4

ProcessRequest = Callable[[ServerConnection, Request], Response | None]


@dataclass(frozen=True, slots=True)
class Keepalive:
    """When every socket of a server is pinged, and how long its pong may take."""

    interval_s: float
    timeout_s: float


@dataclass(frozen=True, slots=True)
class SocketOptions:
    """What every socket of a server is given, whichever path serves it."""

    max_size: int  # bytes: a larger frame is closed with 1009 before it is buffered
    keepalive: Keepalive
    send_buffer_bytes: int  # SO_SNDBUF; 0: the kernel's autotuning
    unsent_bytes: int  # TCP_NOTSENT_LOWAT; 0: the kernel's default


class PlainSocket:
    """`Socket` over a websockets ServerConnection, through the library's public API."""

    __slots__ = ("_connection", "_due", "_keepalive", "_pong", "_transport", "socket_id")

    def __init__(
        self,
        connection: ServerConnection,
        transport: asyncio.Transport,
        keepalive: Keepalive,
        now: float,
    ) -> None:
        self._connection, self._transport, self._keepalive = connection, transport, keepalive
        # The next ping, or while one is unanswered (`_pong`), the deadline for its pong.
        self._due = now + keepalive.interval_s
        self._pong: asyncio.Future[Any] | None = None
        # Short and unique per run: presence keys sockets by it, logs show it.
        self.socket_id = secrets.token_hex(8)

    def keepalive(self, now: float) -> float | None:
        pong = self._pong
        if pong is not None:
            if not pong.done():
                return self._due if now < self._due else None
            self._pong = None
            self._due += self._keepalive.interval_s - self._keepalive.timeout_s
        if now >= self._due and self._connection.state is State.OPEN:
            self._pong = self._ping()
            self._due = now + self._keepalive.timeout_s
        return self._due

    def _ping(self) -> asyncio.Future[Any]:
        """Send a ping; the future is done once its pong came (or the socket closed).

        `ping()` waits for the write buffer to drain, which the sweeper cannot wait for each
        socket: it runs in a task of its own until the pong."""
        return asyncio.ensure_future(_ping(self._connection))

    def buffered(self) -> int:
        if self._connection.state is not State.OPEN or self._transport.is_closing():
            return -1
        return self._transport.get_write_buffer_size()

    def write(self, frame: OutFrame) -> None:
        broadcast((self._connection,), frame.payload, text=True)

    async def receive(self) -> bytes | str:
        try:
            return await self._connection.recv(decode=False)
        except ConnectionClosed:
            raise SocketClosed from None

    async def close(self, code: int, reason: str) -> None:
        await self._connection.close(code, reason)


async def _ping(connection: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):  # the socket is gone; its handler sees it
        await (await connection.ping())


class PlainConnection(ServerConnection):
    """A ServerConnection that keeps the transport asyncio made it with."""

    made_with: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.made_with = cast(asyncio.Transport, transport)


def adopt(
    connection: ServerConnection, transport: asyncio.Transport, options: SocketOptions
) -> None:
    """What each accepted socket gets before the node serves it, on either path."""
    # The handshake's headers are never read again, but would live as long as the socket:
    # the library keeps the request and the response until the end.
    if connection.request is not None:
        connection.request.headers.clear()
    connection.response = None
    if options.send_buffer_bytes or options.unsent_bytes:
        _bound_send_buffer(transport, options.send_buffer_bytes, options.unsent_bytes)


def _bound_send_buffer(transport: asyncio.Transport, size: int, unsent: int) -> None:
    # Not inline in the handler: its frame lives as long as the socket, and so would `raw`.
    if raw := transport.get_extra_info("socket"):
        if size:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        if unsent:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, unsent)


async def start(
    node: Node, sock: socket.socket, process_request: ProcessRequest, options: SocketOptions
) -> Server:
    async def handler(connection: ServerConnection) -> None:
        transport = cast(PlainConnection, connection).made_with
        adopt(connection, transport, options)
        await node.handle(
            PlainSocket(connection, transport, options.keepalive, node.clock.monotonic())
        )

    return await serve(
        handler,
        sock=sock,
        backlog=BACKLOG,
        process_request=process_request,
        server_header=None,
        compression=None,
        open_timeout=OPEN_TIMEOUT_S,
        ping_interval=None,  # the node's sweeper pings (PlainSocket.keepalive)
        close_timeout=CLOSE_TIMEOUT_S,
        max_size=options.max_size,
        max_queue=MAX_QUEUE,
        create_connection=PlainConnection,
    )
