"""The gateway's listening socket: each time it is readable, every waiting connection is taken.

Why not `loop.create_server`: uvloop's libuv accepts one connection per event-loop iteration
(since libuv 1.45, "unix: don't accept() connections in a loop", libuv#3696) and counts on
the socket staying readable for the next. A node holding thousands of sockets runs few
iterations a second when busy, so in a reconnect storm connections would wait in the kernel's
accept queue even when the node has CPU to spare.

`Listener` offers what websockets' `Server` uses of an `asyncio.Server` (close, wait_closed,
is_serving, get_loop, sockets); each connection is handed to the loop as an accepted socket.

Deliberately not here: the WebSocket protocol and what a connection does (ws_fast.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Final

from livedesk.gateway.clock import Clock

log = logging.getLogger(__name__)

# Accepts per wake-up: enough for a storm, bounded so that a flood of connects cannot hold
# the loop from the sockets already open.
ACCEPTS_PER_WAKEUP: Final = 128
# Out of file descriptors or memory: stop listening this long rather than spin on the
# socket, which stays readable (what asyncio's own loop does).
ACCEPT_RETRY_DELAY_S: Final = 1.0


class Listener:
    """A listening TCP socket whose connections get `protocol_factory()` protocols."""

    def __init__(
        self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol], clock: Clock
    ) -> None:
        self._sock, self._protocol_factory, self._clock = sock, protocol_factory, clock
        self._loop = asyncio.get_running_loop()
        self._adopting: set[asyncio.Task[object]] = set()
        self._serving = True
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as error:  # out of descriptors or memory, most likely
                log.warning(
                    "accept failed; listening again in %s s: %s", ACCEPT_RETRY_DELAY_S, error
                )
                self._loop.remove_reader(self._sock.fileno())
                self._clock.call_later(ACCEPT_RETRY_DELAY_S, self._listen_again)
                return
            task = self._loop.create_task(self._adopt(connection))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    def _listen_again(self) -> None:
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    async def _adopt(self, connection: socket.socket) -> object:
        try:
            return await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except Exception:  # a task boundary: one connection lost, the listener goes on
            log.exception("an accepted connection could not be set up")
            connection.close()
            return None

    # -- what websockets' Server uses of an asyncio.Server ------------------------------

    def close(self) -> None:
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    async def wait_closed(self) -> None:
        if self._adopting:
            await asyncio.wait(self._adopting)

    def is_serving(self) -> bool:
        return self._serving

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._serving else ()
