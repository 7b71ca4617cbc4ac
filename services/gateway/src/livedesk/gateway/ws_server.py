"""The gateway's port: the `websockets` library's own asyncio server, /ws plus three HTTP GETs.

Why this server: docs/performance.md measured it at 9.5 µs per delivery at the floor against 12-14
for uvicorn's stacks, and it was the only stack under 20 KB per idle socket. Event frames
skip even its `broadcast()`: the hub builds each event's wire frame once and this adapter
writes those same bytes to each socket's transport (server frames are unmasked and we run
without compression, so the bytes are identical for every socket).

Why /healthz, /readyz and /metrics are served by `process_request` on the same port rather
than by a FastAPI app on a second one: they are three constant-shape GETs; one port means
one Service/probe target in Kubernetes, no second server, event loop task or ASGI stack
costing memory and CPU next to the sockets, and a probe that answers only if the very
listener clients use is accepting.

What an idle socket keeps is what bounds memory per socket (the aim is 20 KB, RSS): so the
library's keepalive (a task per socket) is off and `WebsocketsSocket.keepalive` pings when
the node's sweeper calls it, and the handshake's headers are dropped once it is done.

The library's `Server` and `ServerConnection` are used as its `serve()` would, but over our
`Listener` rather than the loop's `create_server`: uvloop takes one connection per loop
iteration, which capped a busy node's accepts in a reconnect storm (listener.py).

Deliberately not here: what the gateway does with a socket (node.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable
from http import HTTPStatus
from typing import Final, cast

from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from livedesk.gateway.listener import Listener
from livedesk.gateway.node import Node
from livedesk.gateway.sockets import OutFrame, SocketClosed

log = logging.getLogger(__name__)

WS_PATH: Final = "/ws"
PROMETHEUS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# A close handshake with a peer that does not read cannot take longer than this.
CLOSE_TIMEOUT_S: Final = 5.0
# An opening handshake (the HTTP request after the TCP connect) may take this long.
OPEN_TIMEOUT_S: Final = 10.0
# A reconnect storm (a node drained or killed) brings thousands of connects at once;
# asyncio's default backlog of 100 drops them (the kernel caps it at somaxconn).
BACKLOG: Final = 4096


class Keepalive:
    """When every socket of a server is pinged, and how long its pong may take."""

    __slots__ = ("interval_s", "timeout_s")

    def __init__(self, interval_s: float, timeout_s: float) -> None:
        self.interval_s, self.timeout_s = interval_s, timeout_s


class WebsocketsSocket:
    """`Socket` over a websockets ServerConnection."""

    __slots__ = (
        "_connection",
        "_due",
        "_keepalive",
        "_pong",
        "_protocol",
        "_transport",
        "socket_id",
    )

    def __init__(self, connection: ServerConnection, keepalive: Keepalive, now: float) -> None:
        self._connection = connection
        self._protocol = connection.protocol
        self._transport = connection.transport
        self._keepalive = keepalive
        # The next ping, or while one is unanswered (`_pong`), the deadline for its pong.
        self._due = now + keepalive.interval_s
        self._pong: asyncio.Future[float] | None = None
        # Short and unique per run: presence keys sockets by it, logs show it.
        self.socket_id = secrets.token_hex(8)

    def keepalive(self, now: float) -> float | None:
        pong = self._pong
        if pong is not None:
            if not pong.done():
                return self._due if now < self._due else None
            self._pong = None
            self._due += self._keepalive.interval_s - self._keepalive.timeout_s
        if now >= self._due and self._protocol.state is State.OPEN:
            self._pong = self._ping()
            self._due = now + self._keepalive.timeout_s
        return self._due

    def _ping(self) -> asyncio.Future[float]:
        """What `ServerConnection.ping()` does, minus its wait for the write buffer to drain:
        the sweeper cannot wait for each socket, and the pong is matched by the library
        (`pending_pings`) as for its own pings, so a pong for a later ping answers it too.
        """
        connection = self._connection
        data = secrets.token_bytes(4)
        while data in connection.pending_pings:
            data = secrets.token_bytes(4)
        pong: asyncio.Future[float] = connection.loop.create_future()
        connection.pending_pings[data] = (pong, connection.loop.time())
        self._protocol.send_ping(data)
        connection.send_data()
        return pong

    def buffered(self) -> int:
        if self._protocol.state is not State.OPEN or self._transport.is_closing():
            return -1
        return self._transport.get_write_buffer_size()

    def write(self, frame: OutFrame) -> None:
        self._transport.write(frame.wire)

    async def receive(self) -> bytes | str:
        try:
            return await self._connection.recv(decode=False)
        except ConnectionClosed:
            raise SocketClosed from None

    async def close(self, code: int, reason: str) -> None:
        await self._connection.close(code, reason)


def _bound_send_buffer(connection: ServerConnection, size: int, unsent: int) -> None:
    # Not inline in the handler: its frame lives as long as the socket, and so would `raw`.
    if raw := connection.transport.get_extra_info("socket"):
        if size:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        if unsent:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, unsent)


def http_routes(
    node: Node, ready: Callable[[], bool], metrics: Callable[[], bytes]
) -> Callable[[ServerConnection, Request], Response | None]:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == WS_PATH:
            return None  # the WebSocket handshake goes on
        if path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            if ready() and node.accepting:  # not draining, not near its socket cap
                return connection.respond(HTTPStatus.OK, "ready\n")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "not ready\n")
        if path == "/metrics":
            body = metrics()
            headers = Headers(
                [("Content-Type", PROMETHEUS_TYPE), ("Content-Length", str(len(body)))]
            )
            return Response(200, "OK", headers, body)
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    return process_request


async def start(
    node: Node,
    sock: socket.socket,
    *,
    ready: Callable[[], bool],
    metrics: Callable[[], bytes],
    max_size: int,
    ping_interval_s: float,
    ping_timeout_s: float,
    send_buffer_bytes: int = 0,
    unsent_bytes: int = 0,
) -> Server:
    keepalive = Keepalive(ping_interval_s, ping_timeout_s)

    async def handler(connection: ServerConnection) -> None:
        # The handshake's headers (~3 KB a socket) are never read again, but would live as
        # long as the socket: the library's parser keeps the request until the end.
        if connection.request is not None:
            connection.request.headers.clear()
        connection.response = None
        if send_buffer_bytes or unsent_bytes:
            _bound_send_buffer(connection, send_buffer_bytes, unsent_bytes)
        await node.handle(WebsocketsSocket(connection, keepalive, node.clock.monotonic()))

    def protocol_factory() -> ServerConnection:
        # What `websockets.asyncio.server.serve` builds per connection, with its options:
        # no compression (per-socket zlib state costs ~64 KB and rules out shared bytes), and
        # the node's sweeper pings (`WebsocketsSocket.keepalive`: the library's keepalive is
        # a task per socket, ~1.9 KB each, tracemalloc, idle sockets). Oversize frames up to
        # max_size get an error frame from the protocol (max_frame_bytes); beyond it the
        # library closes with 1009 before buffering them.
        protocol = ServerProtocol(max_size=max_size)
        return ServerConnection(
            protocol, server, ping_interval=None, close_timeout=CLOSE_TIMEOUT_S, max_queue=4
        )

    async def connection_handler(connection: ServerConnection) -> None:
        # What `serve` runs for each connection: handshake, then the handler; the TCP
        # connection is closed whatever happens.
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await connection.handshake(process_request, None, None)
            if connection.protocol.state is not State.OPEN:
                connection.transport.abort()  # an HTTP route or a refused handshake
                return
            server.all_connections.add(connection)
            try:
                async with connection:
                    await handler(connection)
            except Exception:
                log.exception("connection handler failed")
            finally:
                server.all_connections.discard(connection)
        except Exception:  # a task boundary: a handshake that failed or timed out
            connection.transport.abort()
        finally:
            server.handler_tasks.discard(asyncio.current_task())

    async def listen() -> asyncio.Server:
        sock.listen(BACKLOG)
        listener = Listener(sock, protocol_factory, node.clock)
        # Not an asyncio.Server, but all of it that websockets' Server uses (listener.py).
        return cast(asyncio.Server, listener)

    process_request = http_routes(node, ready, metrics)
    server = Server(listen, connection_handler)
    return await server
