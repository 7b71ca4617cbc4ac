"""Whether what the gateway's fast socket path (ws_fast.py) takes from `websockets` beyond its
public API is still there: checked once, at import.

It was checked against the releases in `TESTED_RELEASES`, which services/gateway/pyproject.toml
declares as a compatible-release bound; an install outside them, or one where a name below is
gone, gets `FAST_WRITES_PROBLEM`, a sentence saying what differs, and the gateway serves its
sockets on the library's public API alone (ws_plain.py). What no name can show (the library
writing nothing of its own between two frames, matching pongs through `pending_pings`) rests on
the release bound and on the tests run on both paths. Why the fast path exists and when to
delete it: docs/adr/0002-gateway-frame-writes.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import websockets
import websockets.asyncio.connection
import websockets.asyncio.server
import websockets.protocol
import websockets.server

from livedesk.shared.library_check import (
    Releases,
    installed_releases,
    missing_names,
    release_problems,
)

log = logging.getLogger(__name__)

TESTED_RELEASES: Releases = {"websockets": ((17, 4), (17, 5))}

_CONNECTION = "websockets.asyncio.connection.Connection"
_SERVER = "websockets.asyncio.server"
# Looked up from `websockets`, with what in ws_fast needs each.
ATTRIBUTES: tuple[str, ...] = (
    f"{_CONNECTION}.send_data",  # a ping written at once, without waiting for the buffer
    f"{_SERVER}.ServerConnection.handshake",  # the server's connection handler
    "websockets.protocol.Protocol.send_ping",
    "websockets.protocol.State.OPEN",
    "websockets.server.ServerProtocol",
)
# "<class>.<method>": names its code must store or take.
CODE_NAMES: dict[str, tuple[str, ...]] = {
    # The socket writes to `transport`, pings through `protocol` and `pending_pings` on `loop`.
    f"{_CONNECTION}.__init__": ("protocol", "pending_pings", "loop"),
    f"{_CONNECTION}.connection_made": ("transport",),
    f"{_CONNECTION}.acknowledge_pings": ("pending_pings",),  # our pings' pongs are matched
    # The server runs over the node's Listener with its own connection handler.
    f"{_SERVER}.Server.__init__": ("create_server", "handler", "all_connections", "handler_tasks"),
    f"{_SERVER}.ServerConnection.connection_made": ("handler", "handler_tasks"),
    f"{_SERVER}.ServerConnection.handshake": (
        "process_request",
        "process_response",
        "server_header",
    ),
}


def unsupported(modules: Mapping[str, object], installed: Mapping[str, str | None]) -> str | None:
    """What the fast path relies on and does not find (None: nothing is missing)."""
    problems = [
        *release_problems(TESTED_RELEASES, installed),
        *missing_names(modules, ATTRIBUTES, CODE_NAMES),
    ]
    return "; ".join(problems) or None


def fast_writes_chosen(requested: bool, problem: str | None) -> bool:
    """Whether to serve sockets on the fast path: asked for, and nothing it relies on is missing."""
    if not requested:
        return False
    if problem is not None:
        log.warning("gateway sockets on websockets' public API only: %s", problem)
        return False
    return True


FAST_WRITES_PROBLEM: str | None = unsupported(
    {"websockets": websockets}, installed_releases(TESTED_RELEASES)
)
