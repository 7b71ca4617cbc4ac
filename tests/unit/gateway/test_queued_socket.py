"""The adapter for async WebSocket APIs: a whole node served through it, and its bounds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from livedesk.gateway import protocol
from livedesk.gateway.queued_socket import QueuedSocket
from livedesk.gateway.sockets import OutFrame, SocketClosed
from tests.support.gateway import Keys, until
from tests.unit.gateway.harness import running


class Peer:
    """The far side of an async WebSocket API: what it was sent, what it will send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed: tuple[int, str] | None = None
        self.reading = asyncio.Event()
        self.reading.set()

    async def send_text(self, payload: bytes) -> None:
        await self.reading.wait()
        self.sent.append(json.loads(payload))

    async def receive(self) -> bytes | str:
        raw = await self.inbox.get()
        if raw is None:
            raise SocketClosed
        return raw

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.inbox.put_nowait(None)


async def test_a_node_serves_a_queued_socket(keys: Keys) -> None:
    async with running(keys) as gw:
        peer = Peer()
        socket = QueuedSocket(peer.send_text, peer.receive, peer.close)
        async with socket.writing():
            serving = asyncio.create_task(gw.node.handle(socket))
            peer.inbox.put_nowait(json.dumps({"type": "auth", "token": keys.token(1, 2)}).encode())
            await until(lambda: any(f["type"] == "ready" for f in peer.sent))
            await gw.log.post(1, 10)
            await until(lambda: any(f.get("offset") == 1 and "data" in f for f in peer.sent))
            peer.inbox.put_nowait(b"{bad")
            await until(lambda: any(f["type"] == "error" for f in peer.sent))
            await peer.close(1000, "bye")
            await serving


async def test_queued_bytes_count_as_buffered_and_the_last_frame_goes_before_close() -> None:
    peer = Peer()
    peer.reading.clear()  # a peer that does not read
    socket = QueuedSocket(peer.send_text, peer.receive, peer.close)
    async with socket.writing():
        socket.write(OutFrame(b'{"type":"a"}'))
        socket.write(OutFrame(b'{"type":"b"}'))
        assert socket.buffered() == 2 * (2 + len(b'{"type":"a"}'))
        peer.reading.set()
        await until(lambda: socket.buffered() == 0)
        socket.write(OutFrame(protocol.error("token_expired", "bye")))
        await socket.close(4401, "token_expired")
    assert [f["type"] for f in peer.sent] == ["a", "b", "error"]
    assert peer.closed == (4401, "token_expired")
    assert socket.buffered() == -1
