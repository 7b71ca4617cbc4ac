"""The gateway's listener takes every connection waiting when it wakes, on uvloop too."""

from __future__ import annotations

import asyncio
import errno
import socket

import uvloop

from livedesk.gateway import listener as listener_module
from livedesk.gateway.clock import SystemClock
from livedesk.gateway.listener import Listener
from tests.support.clock import VirtualClock
from tests.support.gateway import until

WAITING = 50


class Counted(asyncio.Protocol):
    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


async def iterations_to_take(waiting: int) -> int:
    """Loop iterations from `waiting` queued connects to as many connections made."""
    made: list[asyncio.BaseTransport] = []
    sock = socket.create_server(("127.0.0.1", 0), backlog=waiting * 2)
    listener = Listener(sock, lambda: Counted(made), SystemClock())
    port = listener.sockets[0].getsockname()[1]
    # Blocking connects complete in the kernel's accept queue: the loop has not run yet.
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(waiting)]
    try:
        iterations = 0
        while len(made) < waiting and iterations < waiting * 4:
            await asyncio.sleep(0)
            iterations += 1
        return iterations
    finally:
        for transport in made:
            transport.close()
        for client in clients:
            client.close()
        listener.close()
        await listener.wait_closed()


def test_one_wake_up_takes_every_waiting_connection() -> None:
    # uvloop's own servers take one connection per loop iteration (libuv#3696): ~WAITING.
    iterations = uvloop.run(iterations_to_take(WAITING))
    assert iterations <= 5


async def test_a_closed_listener_refuses_connections() -> None:
    sock = socket.create_server(("127.0.0.1", 0), backlog=8)
    listener = Listener(sock, asyncio.Protocol, SystemClock())
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    assert not listener.is_serving()
    try:
        socket.create_connection(("127.0.0.1", port)).close()
    except ConnectionRefusedError:
        return
    raise AssertionError("a closed listener accepted a connection")


class OutOfDescriptors(socket.socket):
    """A listening socket whose first accept fails as when the process has no fd left."""

    failures = 1

    def accept(self) -> tuple[socket.socket, object]:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


async def test_after_a_failed_accept_it_pauses_then_takes_the_connection() -> None:
    # The socket stays readable: retrying at once would spin the loop on the same error.
    bound = socket.create_server(("127.0.0.1", 0), backlog=8)
    sock = OutOfDescriptors(bound.family, bound.type, fileno=bound.detach())
    made: list[asyncio.BaseTransport] = []
    clock = VirtualClock()
    listener = Listener(sock, lambda: Counted(made), clock)
    client = socket.create_connection(sock.getsockname())
    try:
        await until(lambda: sock.failures == 0)  # the accept failed: it stopped listening
        await clock.advance(listener_module.ACCEPT_RETRY_DELAY_S - 0.01)
        assert not made
        await until(lambda: made, clock=clock)
        assert clock.monotonic() >= listener_module.ACCEPT_RETRY_DELAY_S
    finally:
        client.close()
        for transport in made:
            transport.close()
        listener.close()
        await asyncio.sleep(0)  # the transports' sockets close on the next iteration
