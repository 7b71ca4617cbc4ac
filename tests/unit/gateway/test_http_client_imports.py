"""The gateway's HTTP client (httpx, on httpcore) must not search for a module per request.

httpcore asks `import sniffio` on every request to learn which async library runs it; when
sniffio is not installed the import fails each time, after searching every path entry: about
a tenth of a node's CPU in a reconnect storm, when replay and presence requests come by the
hundred a second (py-spy). The gateway depends on sniffio for that reason.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


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


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each GET on a keep-alive connection until the client closes it."""
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def test_requests_search_for_no_module() -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    searches = ImportSearches()
    try:
        async with server, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/")).status_code == 200  # first use imports what it needs
            sys.meta_path.insert(0, searches)
            for _ in range(20):
                assert (await http.get("/")).status_code == 200
    finally:
        if searches in sys.meta_path:
            sys.meta_path.remove(searches)
    assert searches.names == []
