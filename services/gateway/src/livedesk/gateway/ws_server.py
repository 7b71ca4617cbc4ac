"""The gateway's port: the `websockets` library's asyncio server, /ws plus three HTTP GETs.

The library's own server, rather than an ASGI stack, for its cost per delivery and per idle
socket (docs/performance.md). /healthz, /readyz and /metrics are answered by `process_request`
on the same port: one Service and probe target, no second server beside the sockets, and a
probe answers only if the listener clients use is accepting. `process_request` also refuses,
with 403 before the handshake, an upgrade from a web origin that is not allowed
(`livedesk.shared.origins`), and /metrics to whoever `livedesk.shared.metrics_access` refuses:
both write paths share it.

Sockets are served on one of two paths behind `Socket` (sockets.py): the library's public API
alone (ws_plain.py), or hand-written frame writes (ws_fast.py), which `fast_writes` picks when
the import-time check of what it relies on passed (ws_fast_check.py). Why the fast path, and
when to delete it: docs/adr/0002-gateway-frame-writes.md.

Deliberately not here: what the gateway does with a socket (node.py).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from livedesk.gateway import ws_plain
from livedesk.gateway.node import Node
from livedesk.gateway.ws_fast_check import FAST_WRITES_PROBLEM, fast_writes_chosen
from livedesk.gateway.ws_plain import Keepalive, ProcessRequest, SocketOptions
from livedesk.shared.metrics_access import MetricsAccess, metrics_access
from livedesk.shared.origins import origin_allowed

WS_PATH: Final = "/ws"
PROMETHEUS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class WebAccess:
    """Who may open a socket from a browser, and who may read /metrics."""

    allowed_origins: Collection[str] = ()
    metrics_token: SecretStr | None = None


def http_routes(
    node: Node, ready: Callable[[], bool], metrics: Callable[[], bytes], access: WebAccess
) -> ProcessRequest:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        headers = request.headers
        if path == WS_PATH:
            if origin_allowed(headers.get("Origin"), headers.get("Host"), access.allowed_origins):
                return None  # the WebSocket handshake goes on
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            if ready() and node.accepting:  # not draining, not near its socket cap
                return connection.respond(HTTPStatus.OK, "ready\n")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "not ready\n")
        if path == "/metrics":
            peer = connection.remote_address
            allowed = metrics_access(
                headers.get("Authorization"), peer[0] if peer else None, access.metrics_token
            )
            if allowed is not MetricsAccess.ALLOWED:
                return _refused(connection, allowed)
            body = metrics()
            headers = Headers(
                [("Content-Type", PROMETHEUS_TYPE), ("Content-Length", str(len(body)))]
            )
            return Response(200, "OK", headers, body)
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    return process_request


def _refused(connection: ServerConnection, access: MetricsAccess) -> Response:
    response = connection.respond(HTTPStatus(access.status), access.message + "\n")
    if access.status == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def start(
    node: Node,
    sock: socket.socket,
    *,
    ready: Callable[[], bool],
    metrics: Callable[[], bytes],
    max_size: int,
    ping_interval_s: float,
    ping_timeout_s: float,
    send_buffer_bytes: int = 0,
    unsent_bytes: int = 0,
    fast_writes: bool = True,
    access: WebAccess = WebAccess(),
) -> Server:
    """Serve `node` on the bound `sock`; `fast_writes` asks for the fast path."""
    options = SocketOptions(
        max_size, Keepalive(ping_interval_s, ping_timeout_s), send_buffer_bytes, unsent_bytes
    )
    process_request = http_routes(node, ready, metrics, access)
    if fast_writes_chosen(fast_writes, FAST_WRITES_PROBLEM):
        # Imported only now: what it imports and uses is what the check vouched for.
        from livedesk.gateway import ws_fast

        return await ws_fast.start(node, sock, process_request, options)
    return await ws_plain.start(node, sock, process_request, options)
