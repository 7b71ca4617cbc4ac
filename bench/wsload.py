"""The load generator: many WebSocket client connections per process, lean enough to not be
the bottleneck.

A client here is a `wsclient.WebSocketClient` (an asyncio Protocol that does the upgrade
and parses frames itself, because a full client library costs more CPU per received frame
than the server it measures). Each socket checks that the persistent events it receives have
offsets 1, 2, 3... with no gap and no duplicate; every `sample_every`-th socket also records
latency, now minus the event's `ts` (the publisher stamps `ts` just before it publishes).

`run_worker` runs in a child process (multiprocessing, spawn) and talks to the bench over a
pipe: it connects and authenticates its sockets, says "ready", waits for "stop" (or the
expected count), and sends back its counts, violations and latency samples.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlparse

from bench.wsclient import WebSocketClient

NEW_MESSAGE = b'"type":"new_message"'
OFFSET = b'"offset":'
TS = b'"ts":"'


@dataclass
class Stats:
    events: int = 0
    violations: int = 0  # offsets out of order, missing or repeated
    closes: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    ready: int = 0
    failed: list[str] = field(default_factory=list)


class Client(WebSocketClient):
    def __init__(self, host: str, path: str, auth: bytes, stats: Stats, sampled: bool) -> None:
        super().__init__(host, path)
        self._auth = auth
        self.stats, self.sampled = stats, sampled
        self.expected = 1  # the next offset this socket must receive
        self.is_ready = asyncio.get_running_loop().create_future()

    def opened(self) -> None:
        self.send_text(self._auth)

    def text_received(self, payload: bytes) -> None:
        if NEW_MESSAGE in payload:
            self._event(payload)
        elif not self.is_ready.done() and b'"type":"ready"' in payload:
            self.stats.ready += 1
            self.is_ready.set_result(None)

    def close_received(self, code: int) -> None:
        self.stats.closes[code] = self.stats.closes.get(code, 0) + 1
        self._fail(ConnectionError(f"closed {code}"))

    def failed(self, error: Exception) -> None:
        self._fail(error)

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
