"""A WebSocket client of /ws for integration, system tests and the benchmark's checks.

It reads every frame in a background task and keeps them, so a test asks "what has this
client received" instead of racing reads; `max_queue=1` with `reading=False` makes a client
that stops reading (its kernel buffers fill and the server sees it as slow).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.gateway import until


class WsClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reading = asyncio.Event()
        self._taken = 0

    async def open(self, *, reading: bool = True) -> WsClient:
        self._connection = await connect(
            self.url, compression=None, max_size=None, max_queue=1, open_timeout=10
        )
        if reading:
            self._reading.set()
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._connection is not None
        await self._reading.wait()
        try:
            async for raw in self._connection:
                self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._connection.close_code
            self.closed.set()

    def start_reading(self) -> None:
        self._reading.set()

    async def send(self, frame: dict[str, Any] | bytes | str) -> None:
        assert self._connection is not None
        raw = frame if isinstance(frame, bytes | str) else json.dumps(frame)
        await self._connection.send(raw)

    async def auth(self, token: str, resume_from: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "auth", "token": token}
        if resume_from is not None:
            frame["resume_from"] = resume_from
        await self.send(frame)
        await until(lambda: self.of_type("ready") or self.closed.is_set(), timeout_s=20)
        assert self.of_type("ready"), f"no ready: {self.frames} close={self.close_code}"
        return self.of_type("ready")[0]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame.get("type") == kind]

    def offsets(self) -> list[int]:
        return [f["offset"] for f in self.frames if "offset" in f and "data" in f]

    def take_offsets(self) -> list[int]:
        """Offsets received since the last call."""
        offsets = self.offsets()
        fresh, self._taken = offsets[self._taken :], len(offsets)
        return fresh

    async def wait_closed(self, timeout_s: float = 20) -> int | None:
        async with asyncio.timeout(timeout_s):
            await self.closed.wait()
        return self.close_code

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            self._reading.set()
            await asyncio.gather(self._reader, return_exceptions=True)
