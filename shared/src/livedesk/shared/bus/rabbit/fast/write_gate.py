"""Whether a socket may take another batch of publishes: not while the broker has blocked the
connection, nor while the transport's buffer is over its high-water mark.

During a resource alarm (memory or disk) RabbitMQ stops reading the socket of a connection
that publishes, and says so (Connection.Blocked; aiormq announces the capability) until the
alarm clears (Connection.Unblocked). Bytes written meanwhile wait in the kernel and in the
transport's buffer. A broker that reads slower than we write fills that buffer too, and
asyncio tells the socket's protocol to pause (past the transport's high-water mark, 64 KiB
by default) and later to resume. A publisher waits here before it writes, so that what the
process holds for the broker is what it wrote before the gate closed, and no more.

Sans-I/O: who reports blocked (`amqp_frames`) and pause (`transport`), who waits
(`rabbit.fast.bus`).
"""

from __future__ import annotations

import asyncio


class WriteGate:
    """One socket's: open unless blocked by the broker or paused by the transport."""

    def __init__(self) -> None:
        self._blocked = False
        self._paused = False
        self._lost: BaseException | None = None
        self._open = asyncio.Event()
        self._open.set()

    def block(self, blocked: bool) -> None:
        """Connection.Blocked (True) or Connection.Unblocked (False) from the broker."""
        self._blocked = blocked
        self._update()

    def pause(self, paused: bool) -> None:
        """The transport's buffer went over its high-water mark (True), or under its low one."""
        self._paused = paused
        self._update()

    def lose(self, reason: BaseException | None) -> None:
        """The socket is gone: whoever waits, and whoever comes, raises ConnectionError."""
        self._lost = reason or ConnectionError("socket closed")
        self._update()

    async def wait(self) -> None:
        """Return once the socket may take more (at once if it may already)."""
        while not self._open.is_set():
            await self._open.wait()
        if self._lost is not None:
            raise ConnectionError(f"socket closed while a publish waited: {self._lost!r}")

    def _update(self) -> None:
        if self._lost is not None or not (self._blocked or self._paused):
            self._open.set()
        else:
            self._open.clear()
