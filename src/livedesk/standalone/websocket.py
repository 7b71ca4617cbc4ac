"""The gateway's `Socket` over a Starlette WebSocket, for the one-process standalone mode.

The gateway writes without waiting (`write` must not block fan-out), while Starlette's
send is a coroutine: frames go into a queue that one task per socket drains, and `buffered`
reports the bytes in that queue, so the gateway's slow-reader bound (4409) holds here too.
Speed is not the point of this mode; the gateway's own server is (see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from livedesk.gateway.sockets import OutFrame, SocketClosed

CLOSE_FLUSH_TIMEOUT_S = 1.0


class StarletteSocket:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self.socket_id = secrets.token_hex(8)
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self._closed = False

    def buffered(self) -> int:
        return -1 if self._closed else self._pending_bytes

    def write(self, frame: OutFrame) -> None:
        if self._closed:
            return
        self._pending.append(frame.payload)
        self._pending_bytes += len(frame.payload)
        self._wake.set()

    def keepalive(self, now: float) -> float:
        return math.inf  # uvicorn pings the peer itself (ws_ping_interval)

    async def receive(self) -> bytes | str:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            raise SocketClosed from None
        if message["type"] == "websocket.disconnect":
            self._closed = True
            raise SocketClosed
        text: str | None = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    async def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        # Send what is queued first (a `reconnect` hint, an error), but a peer that stopped
        # reading must not hold the close up: that is the very socket 4409 closes.
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            async with asyncio.timeout(CLOSE_FLUSH_TIMEOUT_S):
                await self._flush()
        self._closed = True
        self._wake.set()
        if self._websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError):  # the peer went first
                await self._websocket.close(code, reason)

    async def send_forever(self) -> None:
        """Drain the queue to the peer until the socket closes."""
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._closed = True

    async def _flush(self) -> None:
        while self._pending:
            payload = self._pending.popleft()
            self._pending_bytes -= len(payload)
            await self._websocket.send_text(payload.decode())
