"""What a browser on another origin would send: WebSocket upgrades and CORS preflights."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

FOREIGN = "https://evil.example"
LISTED = "https://inbox.example.com"  # what the tests put in LIVEDESK_ALLOWED_ORIGINS


async def upgrade_status(url: str, origin: str | None) -> int:
    """101 when the handshake completed, else the HTTP status the server answered."""
    try:
        async with connect(url, origin=origin, open_timeout=5):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def preflight_headers(origin: str) -> dict[str, str]:
    """What a browser's OPTIONS says before a cross-origin POST with JSON and a token."""
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def preflight(http: httpx.AsyncClient, path: str, origin: str) -> httpx.Response:
    return await http.options(path, headers=preflight_headers(origin))


@contextmanager
def page_server() -> Iterator[str]:
    """A site of its own on a loopback port (another origin than any service's), serving an
    empty page; yields its origin. Loopback and real: a page the browser's router made up
    counts as a public site, which Chromium does not let reach loopback at all."""

    class EmptyPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>elsewhere</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), EmptyPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
