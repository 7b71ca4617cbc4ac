"""The gateway's HTTP client: what its transport adds, and what its dependencies spare it.

- A GET on a pooled connection the server closed under it is sent again, once
  (`RetryStaleConnections`); other methods are not.
- No module is searched for per request. httpcore asks `import sniffio` on every request to
  learn which async library runs it; when sniffio is not installed the import fails each time,
  after searching every path entry: about a tenth of a node's CPU in a reconnect storm, when
  replay and presence requests come by the hundred a second (py-spy). The gateway depends on
  sniffio for that reason.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx
import pytest

from livedesk.gateway.http_transport import RetryStaleConnections

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@asynccontextmanager
async def http_server(answers_per_connection: int | None) -> AsyncIterator[str]:
    """A keep-alive server answering `ok` to that many requests of each connection (None: all),
    then closing the connection, unanswered, at the next one: what a keep-alive timeout that
    expires as a request arrives looks like to the client."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if answered == answers_per_connection:
                    break
                writer.write(OK)
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_get_on_a_connection_closed_under_it_is_sent_again() -> None:
    async with (
        http_server(answers_per_connection=1) as url,
        httpx.AsyncClient(base_url=url, transport=RetryStaleConnections()) as http,
    ):
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/")).status_code == 200  # the pooled connection is closed


async def test_other_methods_are_not_sent_twice() -> None:
    async with (
        http_server(answers_per_connection=1) as url,
        httpx.AsyncClient(base_url=url, transport=RetryStaleConnections()) as http,
    ):
        assert (await http.post("/", content=b"x")).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/", content=b"x")


class ImportSearches(importlib.abc.MetaPathFinder):
    """Records each module name the import system had to search for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        self.names.append(fullname)
        return None  # leave the finding to the real finders


async def test_requests_search_for_no_module() -> None:
    searches = ImportSearches()
    try:
        async with (
            http_server(answers_per_connection=None) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            assert (await http.get("/")).status_code == 200  # first use imports what it needs
            sys.meta_path.insert(0, searches)
            for _ in range(20):
                assert (await http.get("/")).status_code == 200
    finally:
        if searches in sys.meta_path:
            sys.meta_path.remove(searches)
    assert searches.names == []
