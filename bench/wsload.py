"""The load generator: many WebSocket client connections per process, lean enough to not be
the bottleneck.

A client here is an asyncio Protocol that does the HTTP upgrade itself and parses server
frames by hand (servers never mask; text, ping and close are all it needs), because a full
client library costs more CPU per received frame than the server it measures. Each socket
checks that the persistent events it receives have offsets 1, 2, 3... with no gap and no
duplicate; every `sample_every`-th socket also records latency, now minus the event's `ts`
(the publisher stamps `ts` just before it publishes).

`run_worker` runs in a child process (multiprocessing, spawn) and talks to the bench over a
pipe: it connects and authenticates its sockets, says "ready", waits for "stop" (or the
expected count), and sends back its counts, violations and latency samples.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import urlparse

NEW_MESSAGE = b'"type":"new_message"'
OFFSET = b'"offset":'
TS = b'"ts":"'


def masked_text(payload: bytes) -> bytes:
    """A client text frame; the mask key is all zeros, so the payload is sent as is."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return header + b"\x00\x00\x00\x00" + payload


@dataclass
class Stats:
    events: int = 0
    violations: int = 0  # offsets out of order, missing or repeated
    closes: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    ready: int = 0
    failed: list[str] = field(default_factory=list)


class Client(asyncio.Protocol):
    def __init__(self, host: str, path: str, auth: bytes, stats: Stats, sampled: bool) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self._auth = auth
        self._buffer = bytearray()
        self._handshaken = False
        self.stats, self.sampled = stats, sampled
        self.expected = 1  # the next offset this socket must receive
        self.transport: asyncio.Transport | None = None
        self.is_ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(RuntimeError(bytes(buffer[:80]).decode(errors="replace")))
                return
            del buffer[: end + 4]
            self._handshaken = True
            assert self.transport is not None
            self.transport.write(masked_text(self._auth))
        # Parse by position and cut the buffer once: deleting each frame from the front of
        # a bytearray moves the rest every time, quadratic in the chunk.
        position, end = 0, len(buffer)
        while end - position >= 2:
            opcode, size = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
            start = position + 2
            if size == 126:
                if end - position < 4:
                    break
                size, start = struct.unpack_from("!H", buffer, position + 2)[0], position + 4
            elif size == 127:
                if end - position < 10:
                    break
                size, start = struct.unpack_from("!Q", buffer, position + 2)[0], position + 10
            if end < start + size:
                break
            self._frame(opcode, bytes(buffer[start : start + size]))
            position = start + size
        if position:
            del buffer[:position]

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 1:
            if NEW_MESSAGE in payload:
                self._event(payload)
            elif not self.is_ready.done() and b'"type":"ready"' in payload:
                self.stats.ready += 1
                self.is_ready.set_result(None)
        elif opcode == 9 and self.transport is not None:  # ping: answer pong, masked
            self.transport.write(
                struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0" * 4 + payload
            )
        elif opcode == 8:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            self.stats.closes[code] = self.stats.closes.get(code, 0) + 1
            self._fail(ConnectionError(f"closed {code}"))

    def _event(self, payload: bytes) -> None:
        stats = self.stats
        stats.events += 1
        at = payload.find(OFFSET) + len(OFFSET)
        end = at
        while 48 <= payload[end] <= 57:
            end += 1
        offset = int(payload[at:end])
        if offset != self.expected:
            stats.violations += 1
        self.expected = offset + 1
        if self.sampled:
            at = payload.find(TS) + len(TS)
            ts = datetime.fromisoformat(payload[at : payload.find(b'"', at)].decode())
            stats.latencies.append(time.time() - ts.timestamp())

    def _fail(self, error: Exception) -> None:
        if not self.is_ready.done():
            self.is_ready.set_exception(error)
            self.is_ready.exception()  # retrieved: a socket that failed is counted, not logged
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection lost"))


async def open_clients(
    urls: list[str], auths: list[bytes], stats: Stats, sample_every: int, concurrency: int = 200
) -> list[Client]:
    """Open and authenticate one socket per auth frame, spread over `urls` round robin."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    clients: list[Client] = []

    async def one(index: int, auth: bytes) -> None:
        url = urlparse(urls[index % len(urls)])
        async with gate:
            _, client = await loop.create_connection(
                lambda: Client(url.netloc, url.path, auth, stats, index % sample_every == 0),
                url.hostname or "127.0.0.1",
                url.port or 80,
            )
            clients.append(client)
            try:
                await asyncio.wait_for(client.is_ready, 30)
            except (ConnectionError, TimeoutError) as error:
                stats.failed.append(repr(error))

    await asyncio.gather(*(one(i, auth) for i, auth in enumerate(auths)))
    return clients


def run_worker(pipe: Connection, urls: list[str], auths: list[bytes], sample_every: int) -> None:
    """Child process entry: connect, report ready, wait for stop, report the figures."""
    import uvloop

    uvloop.run(_worker(pipe, urls, auths, sample_every))


async def _worker(pipe: Connection, urls: list[str], auths: list[bytes], sample_every: int) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    try:
        clients = await open_clients(urls, auths, stats, sample_every)
    except Exception as error:  # reported to the bench, which stops the run
        pipe.send({"error": repr(error)})
        return
    pipe.send({"ready": stats.ready, "failed": stats.failed[:5], "failures": len(stats.failed),
               "closes": stats.closes})  # fmt: skip
    while True:
        command: dict[str, Any] = await loop.run_in_executor(None, pipe.recv)
        if command["cmd"] == "stats":
            expected = command.get("expected")
            missing = 0 if expected is None else sum(expected + 1 - c.expected for c in clients)
            pipe.send(
                {
                    "events": stats.events,
                    "violations": stats.violations,
                    "missing": missing,
                    "closes": stats.closes,
                    "latencies": stats.latencies,
                }
            )
            stats.latencies = []
        elif command["cmd"] == "stop":
            for client in clients:
                if client.transport is not None:
                    client.transport.close()
            pipe.send({"stopped": True})
            return
