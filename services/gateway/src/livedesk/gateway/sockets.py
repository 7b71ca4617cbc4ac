"""The small interface between the gateway's logic and whatever carries its sockets.

A `Socket` writes pre-encoded text frames without blocking, reports how many bytes wait in
its outgoing buffer (the node closes it with 4409 past a bound), pings its peer when the
node's sweeper says it is time (the node closes it with 1011 when a pong is overdue),
receives client frames and closes with a code. The `websockets` server implements it twice
(ws_plain.py on the library's public API, ws_fast.py writing `OutFrame.wire`); the one-process
standalone mode mounts the same logic on a Starlette WebSocket route with its own adapter.

`OutFrame` is one server frame encoded once: the JSON payload, and lazily the complete
WebSocket text frame (header + payload, unmasked, uncompressed), which is the same bytes for
every socket, so the fast path builds it once per event, not once per delivery.

Deliberately not here: any decision about what to send (fanout.py, node.py).
"""

from __future__ import annotations

import struct
from typing import Protocol


class SocketClosed(Exception):
    """The peer went away or the socket was closed; nothing more can be received."""


class OutFrame:
    __slots__ = ("_wire", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        """The whole RFC 6455 text frame: FIN + opcode 1, no mask (servers never mask)."""
        if self._wire is None:
            self._wire = text_frame(self.payload)
        return self._wire

    def __len__(self) -> int:
        return len(self.payload)


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class Socket(Protocol):
    """One client connection, as the gateway's logic sees it."""

    socket_id: str

    def buffered(self) -> int:
        """Bytes written but not yet taken by the peer's kernel; -1 once it cannot be written."""
        ...

    def write(self, frame: OutFrame) -> None:
        """Queue one text frame without waiting; call only after `buffered()` >= 0."""
        ...

    def keepalive(self, now: float) -> float | None:
        """Ping the peer if a ping is due; when to be called again (`math.inf`: never), or
        None if the peer left the last ping unanswered too long.

        Called by the node's sweeper when the last call said (`now` is the node clock's
        monotonic reading), so that no socket needs a task or timer of its own. A socket
        whose transport pings by itself returns `math.inf`.
        """
        ...

    async def receive(self) -> bytes | str:
        """The next client frame; raise `SocketClosed` when there are no more."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with `code`; idempotent; returns when the socket is closed or abandoned."""
        ...
