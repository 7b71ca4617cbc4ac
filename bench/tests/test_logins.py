"""The login bench's client: it reads whole answers off a keep-alive connection, and a
flood counts each status it got."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from bench.logins import Connection, flood, probe


@pytest.fixture
async def server_port() -> AsyncIterator[int]:
    """A keep-alive HTTP/1.1 server answering 200, 503 (Retry-After: 1), 200, ... with a
    small JSON body."""
    statuses = itertools.cycle((b"200 OK", b"503 Service Unavailable\r\nRetry-After: 1"))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readline():
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            body = b'{"ok": true}'
            writer.write(
                b"HTTP/1.1 " + next(statuses) + b"\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body
            )  # fmt: skip
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_connection_reads_each_answer_whole(server_port: int) -> None:
    connection = await Connection.open(server_port)
    try:
        statuses = [await connection.request("POST", "/x", b"{}") for _ in range(4)]
    finally:
        connection.close()
    assert statuses == [200, 503, 200, 503]


async def test_a_flood_counts_every_status(server_port: int) -> None:
    counted = await flood(server_port, connections=2, seconds=0.2, honour_retry_after=False)
    assert set(counted) == {200, 503}
    assert abs(counted[200] - counted[503]) <= 2
    assert counted.total() > 10


async def test_a_flood_waits_what_retry_after_says(server_port: int) -> None:
    counted = await flood(server_port, connections=2, seconds=0.5)
    # Each connection asks until its first 503, then waits past the end.
    assert counted[503] == 2
    assert counted[200] <= 2


async def test_the_probe_refuses_an_answer_that_is_not_200(server_port: int) -> None:
    with pytest.raises(RuntimeError, match="503"):
        await probe(server_port, "token", seconds=1.0, rate=100.0)
