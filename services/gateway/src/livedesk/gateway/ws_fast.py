"""The gateway's sockets with hand-written frame writes: the path a node runs on by default.

Beside the plain path (ws_plain.py), behind the same `Socket` interface, `FastSocket` writes
each event's wire frame, built once per event (`OutFrame.wire`), straight to each socket's
transport instead of having the library frame it again per socket, and pings without waiting
for the write buffer to drain. `start` runs the library's `Server` as its `serve()` would, but
over the node's `Listener`, which takes every waiting connection per wake-up. Both rest on
names of `websockets` that are not its public API: ws_fast_check.py checks them at import and
ws_server.py imports this module only when they are there. Why, and when to delete it:
docs/adr/0002-gateway-frame-writes.md.

Deliberately not here: anything the plain path does alike (ws_plain.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import Any, cast

from websockets.asyncio.server import Server, ServerConnection
from websockets.protocol import State
from websockets.server import ServerProtocol

from livedesk.gateway.listener import Listener
from livedesk.gateway.node import Node
from livedesk.gateway.sockets import OutFrame
from livedesk.gateway.ws_plain import (
    BACKLOG,
    CLOSE_TIMEOUT_S,
    MAX_QUEUE,
    OPEN_TIMEOUT_S,
    Keepalive,
    PlainSocket,
    ProcessRequest,
    SocketOptions,
    adopt,
)

log = logging.getLogger(__name__)


class FastSocket(PlainSocket):
    """`Socket` writing pre-built frames to the transport of a websockets ServerConnection.

    The bytes are what the library would write: server frames are unmasked, and the server
    negotiates no extension, so a text frame is the same for every socket.
    """

    __slots__ = ("_protocol",)

    def __init__(
        self,
        connection: ServerConnection,
        transport: asyncio.Transport,
        keepalive: Keepalive,
        now: float,
    ) -> None:
        super().__init__(connection, transport, keepalive, now)
        self._protocol = connection.protocol

    def buffered(self) -> int:
        if self._protocol.state is not State.OPEN or self._transport.is_closing():
            return -1
        return self._transport.get_write_buffer_size()

    def write(self, frame: OutFrame) -> None:
        self._transport.write(frame.wire)

    def _ping(self) -> asyncio.Future[Any]:
        """What `ServerConnection.ping()` does, minus its wait for the write buffer to drain;
        the pong is matched by the library (`pending_pings`) as for its own pings, so a pong
        for a later ping answers it too."""
        connection = self._connection
        data = secrets.token_bytes(4)
        while data in connection.pending_pings:
            data = secrets.token_bytes(4)
        pong: asyncio.Future[float] = connection.loop.create_future()
        connection.pending_pings[data] = (pong, connection.loop.time())
        self._protocol.send_ping(data)
        connection.send_data()
        return pong


async def start(
    node: Node, sock: socket.socket, process_request: ProcessRequest, options: SocketOptions
) -> Server:
    async def handler(connection: ServerConnection) -> None:
        transport = connection.transport
        adopt(connection, transport, options)
        await node.handle(
            FastSocket(connection, transport, options.keepalive, node.clock.monotonic())
        )

    def protocol_factory() -> ServerConnection:
        # What `serve()` builds per connection, with the plain path's options.
        protocol = ServerProtocol(max_size=options.max_size)
        return ServerConnection(
            protocol,
            server,
            ping_interval=None,
            close_timeout=CLOSE_TIMEOUT_S,
            max_queue=MAX_QUEUE,
        )

    async def connection_handler(connection: ServerConnection) -> None:
        # What `serve()` runs for each connection: handshake, then the handler; the TCP
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

    server = Server(listen, connection_handler)
    return await server
