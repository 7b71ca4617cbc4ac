"""A GET on a pooled connection the server closed under it is sent again, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from livedesk.gateway.http_transport import RetryStaleConnections

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@asynccontextmanager
async def closing_after_one_answer() -> AsyncIterator[str]:
    """A server that answers the first request of each connection and closes the connection,
    unanswered, at the second: what a keep-alive timeout that expires as a request arrives
    looks like to the client."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(OK)
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_get_on_a_connection_closed_under_it_is_sent_again() -> None:
    async with (
        closing_after_one_answer() as url,
        httpx.AsyncClient(base_url=url, transport=RetryStaleConnections()) as http,
    ):
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/")).status_code == 200  # the pooled connection is closed


async def test_other_methods_are_not_sent_twice() -> None:
    async with (
        closing_after_one_answer() as url,
        httpx.AsyncClient(base_url=url, transport=RetryStaleConnections()) as http,
    ):
        assert (await http.post("/", content=b"x")).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/", content=b"x")
