"""A `Socket` over any async WebSocket API (Starlette's, for the one-process standalone mode).

The gateway writes without waiting; an ASGI WebSocket only has `await send(...)`. So this
adapter keeps the socket's outgoing frames in its own queue, drained by one writer task per
socket, and reports the queued bytes as `buffered()`: the node's `SendQueue` bounds it and
closes a socket that does not keep up with 4409, exactly as on the `websockets` server.

Use:

    async def ws(websocket: WebSocket) -> None:          # a Starlette route at /ws
        await websocket.accept()
        socket = QueuedSocket(send_text, receive, websocket.close)
        async with socket.writing():
            await node.handle(socket)

where `receive` returns the next text frame and raises `SocketClosed` on disconnect.

Deliberately not here: anything Starlette-specific (the gateway does not depend on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from livedesk.gateway.sockets import OutFrame, SocketClosed

# A closing socket's last frames (the error that says why) get this long to go out; a socket
# closed for being too slow would never drain.
FLUSH_TIMEOUT_S: Final = 1.0


class QueuedSocket:
    def __init__(
        self,
        send_text: Callable[[bytes], Awaitable[None]],
        receive: Callable[[], Awaitable[bytes | str]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.socket_id = secrets.token_hex(8)
        self._send_text, self._receive, self._close = send_text, receive, close
        self._frames: deque[tuple[bytes, int]] = deque()
        self._drained = asyncio.Event()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._closed = False

    def buffered(self) -> int:
        return -1 if self._closed else self._bytes

    def write(self, frame: OutFrame) -> None:
        size = len(frame.wire)  # counted as on the wire, like the transport's buffer
        self._frames.append((frame.payload, size))
        self._bytes += size
        self._drained.clear()
        self._wake.set()

    async def receive(self) -> bytes | str:
        if self._closed:
            raise SocketClosed
        return await self._receive()

    async def close(self, code: int, reason: str) -> None:
        """Send what is queued (an error frame says why), briefly, then close."""
        if self._closed:
            return
        if self._frames:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_TIMEOUT_S):
                    await self._drained.wait()
        self._closed = True
        self._wake.set()
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self._close(code, reason)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Run the writer for as long as the socket is served."""
        writer = asyncio.create_task(self._write())
        try:
            yield
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            while self._frames and not self._closed:
                payload, size = self._frames.popleft()
                try:
                    await self._send_text(payload)
                except Exception:  # the peer went away: stop writing; receive will say so
                    self._closed = True
                    self._drained.set()
                    return
                self._bytes -= size
            if not self._frames:
                self._drained.set()
