"""The bus's transport factory on a loopback socket that plays the broker's bytes: routed
deliveries are taken, the rest reaches aiormq's reader, and routes belong to one socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

import aiormq.abc
import pamqp.body
import pamqp.frame
import pamqp.header
from pamqp import commands as spec
from pamqp.heartbeat import Heartbeat
from yarl import URL

from livedesk.shared.bus.rabbit.fast.transport import DeliveryRoutes
from tests.unit.test_amqp_frames import CHANNEL, TAG, delivery, frames

CONSUME_OK = frames((spec.Basic.ConsumeOk(TAG), CHANNEL))


@dataclass
class _Channel:
    number: int = CHANNEL
    is_closed: bool = False


def channel() -> aiormq.abc.AbstractChannel:
    return cast(aiormq.abc.AbstractChannel, _Channel())


@asynccontextmanager
async def opened(
    routes: DeliveryRoutes, url: URL
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await routes.create(url)
    try:
        yield reader, writer
    finally:
        writer.close()
        await writer.wait_closed()


@asynccontextmanager
async def broker_playing(data: bytes) -> AsyncIterator[URL]:
    """A loopback server that sends `data` once the client says go, then closes."""

    async def play(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.write(data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(play, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        yield URL(f"amqp://127.0.0.1:{port}/")


async def frames_read(socket: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> list[type]:
    """Say go, then read every frame that reaches aiormq's side until the socket closes."""
    reader, writer = socket
    writer.write(b"!")
    async with asyncio.timeout(5):
        data = await reader.read()
    out: list[type] = []
    while data:
        used, _, frame = pamqp.frame.unmarshal(data)
        if not isinstance(frame, Heartbeat):  # one may stand in for the deliveries taken
            out.append(type(frame))
        data = data[used:]
    return out


async def test_routed_deliveries_are_taken_and_the_rest_reaches_the_reader() -> None:
    taken: list[bytes] = []
    routes = DeliveryRoutes()
    played = CONSUME_OK + delivery(1, b"a") + delivery(2, b"b")
    async with broker_playing(played) as url, opened(routes, url) as socket:
        routes.add(channel(), TAG, lambda _e, _k, body, _r, _t, _u: taken.append(body))
        assert await frames_read(socket) == [spec.Basic.ConsumeOk]
    assert taken == [b"a", b"b"]


async def test_a_new_socket_starts_without_the_old_routes() -> None:
    routes = DeliveryRoutes()
    taken: list[bytes] = []
    routes.add(channel(), TAG, lambda _e, _k, body, _r, _t, _u: taken.append(body))
    async with broker_playing(delivery(1, b"a")) as url, opened(routes, url) as socket:
        assert await frames_read(socket) == [
            spec.Basic.Deliver,
            pamqp.header.ContentHeader,
            pamqp.body.ContentBody,
        ]
    assert taken == []


async def test_discarding_a_replaced_channel_keeps_its_successor_routed() -> None:
    routes = DeliveryRoutes()
    taken: list[bytes] = []
    async with broker_playing(delivery(1, b"a")) as url, opened(routes, url) as socket:
        old, new = channel(), channel()  # the same number, reopened after a channel error
        routes.add(old, TAG, lambda *_: None)
        routes.add(new, TAG, lambda _e, _k, body, _r, _t, _u: taken.append(body))
        routes.discard(old)
        assert await frames_read(socket) == []
    assert taken == [b"a"]
