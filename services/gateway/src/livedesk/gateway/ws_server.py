"""The gateway's port: the `websockets` library's own asyncio server, /ws plus three HTTP GETs.

Why this server: performance.md measured it at 9.5 µs per delivery at the floor against 12-14
for uvicorn's stacks, and it was the only stack under 20 KB per idle socket. Event frames
skip even its `broadcast()`: the hub builds each event's wire frame once and this adapter
writes those same bytes to each socket's transport (server frames are unmasked and we run
without compression, so the bytes are identical for every socket).

Why /healthz, /readyz and /metrics are served by `process_request` on the same port rather
than by a FastAPI app on a second one: they are three constant-shape GETs; one port means
one Service/probe target in Kubernetes, no second server, event loop task or ASGI stack
costing memory and CPU next to the sockets, and a probe that answers only if the very
listener clients use is accepting.

Deliberately not here: what the gateway does with a socket (node.py).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from livedesk.gateway.node import Node
from livedesk.gateway.sockets import OutFrame, SocketClosed

WS_PATH: Final = "/ws"
PROMETHEUS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# A close handshake with a peer that does not read cannot take longer than this.
CLOSE_TIMEOUT_S: Final = 5.0


class WebsocketsSocket:
    """`Socket` over a websockets ServerConnection."""

    __slots__ = ("_connection", "_protocol", "_transport", "socket_id")

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        self._protocol = connection.protocol
        self._transport = connection.transport
        # Short and unique per run: presence keys sockets by it, logs show it.
        self.socket_id = secrets.token_hex(8)

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
            if ready() and not node.draining:
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
    host: str,
    port: int,
    *,
    ready: Callable[[], bool],
    metrics: Callable[[], bytes],
    max_size: int,
    ping_interval_s: float,
    ping_timeout_s: float,
    send_buffer_bytes: int = 0,
) -> Server:
    async def handler(connection: ServerConnection) -> None:
        if send_buffer_bytes and (raw := connection.transport.get_extra_info("socket")):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
        await node.handle(WebsocketsSocket(connection))

    return await serve(
        handler,
        host,
        port,
        process_request=http_routes(node, ready, metrics),
        compression=None,  # per-socket zlib state costs ~64 KB and rules out shared bytes
        # Oversize frames up to this get an error frame from the protocol (max_frame_bytes);
        # beyond it the library closes with 1009 before buffering them.
        max_size=max_size,
        max_queue=4,
        ping_interval=ping_interval_s,
        ping_timeout=ping_timeout_s,
        close_timeout=CLOSE_TIMEOUT_S,
        server_header=None,
        # A reconnect storm (a node drained or killed) brings thousands of connects at once;
        # asyncio's default backlog of 100 drops them (the kernel caps it at somaxconn).
        backlog=4096,
    )
