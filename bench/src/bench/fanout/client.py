"""One load generator client: a socket's life across reconnects, and its frames' meaning.

A `Client` opens a `Connection` (a lean `bench.wsclient` protocol), authenticates in its
protocol (`codecs`), times and checks every event as it is read, inside `data_received`, and
on a close decides whether to come back with resume. The slow reader's stall is the
transport's `pause_reading` on a socket with a small receive buffer.
Deliberately not here: the requests and the figures across clients (`loadgen.Generator`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from typing import Any, Protocol
from urllib.parse import urlsplit

from bench.fanout.codecs import CodecError, Kind, LivedeskCodec, SocketIOCodec
from bench.fanout.stats import Histogram, Ledger
from bench.wsclient import WebSocketClient
from bench.wsframes import CLOSE_ABNORMAL

PEER = "peer"
LIVEDESK = "livedesk"
# A stalled reader's kernel receive buffer: small, as on a congested mobile link, so the
# server feels the stall in seconds instead of after megabytes of loopback autotuning.
SLOW_RCVBUF_BYTES = 16 * 1024
# The TCP connect and upgrade; and how long a client that closes waits for the server's close
# frame before it drops the connection (as the `websockets` client was set up before).
OPEN_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 2.0


class Tally(Protocol):
    """What a client reads of and adds to its generator (`loadgen.Generator`)."""

    protocol: str
    connecting: asyncio.Semaphore
    latency: dict[str, Histogram]
    time_to_live: Histogram
    phases: dict[str, Histogram]
    deliveries: int
    closes: Counter[int]
    errors: Counter[str]


class Connection(WebSocketClient):
    """One socket of a `Client`: its text frames go to the client, its end to `ended`."""

    def __init__(self, client: Client, host: str, path: str) -> None:
        super().__init__(host, path)
        self._client = client
        loop = asyncio.get_running_loop()
        self.accepted: asyncio.Future[None] = loop.create_future()
        # The close code the socket ended with (1006: the connection ended without one), None
        # when the protocol itself said goodbye, or the error that ended it.
        self.ended: asyncio.Future[int | None] = loop.create_future()

    def opened(self) -> None:
        self._client.opened(self)
        if not self.accepted.done():  # cancelled: the open timed out
            self.accepted.set_result(None)

    def text_received(self, payload: bytes) -> None:
        try:
            self._client.frame_received(self, payload)
        except CodecError as error:
            self.finish(error)

    def close_received(self, code: int) -> None:
        self.finish(code)

    def failed(self, error: Exception) -> None:
        self.finish(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish(CLOSE_ABNORMAL)

    def finish(self, outcome: int | Exception | None) -> None:
        """The socket is over (the first outcome counts): close it, wake whoever waits."""
        self.close()
        if self.transport is not None:
            self.transport.close()
        if not self.accepted.done():
            error = outcome if isinstance(outcome, Exception) else None
            self.accepted.set_exception(error or ConnectionError("closed during the upgrade"))
        elif self.ended.done():
            return
        elif isinstance(outcome, Exception):
            self.ended.set_exception(outcome)
        else:
            self.ended.set_result(outcome)

    def set_reading(self, on: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            (self.transport.resume_reading if on else self.transport.pause_reading)()


class Client:
    def __init__(self, gen: Tally, index: int, spec: dict[str, Any]) -> None:
        self.gen, self.index = gen, index
        path = LivedeskCodec.path if gen.protocol == LIVEDESK else SocketIOCodec.path
        self.nodes: list[str] = spec.get("urls") or [spec["url"]]
        self.node = self.nodes[0]  # the server node's base URL: latency is kept per node
        self.urls: list[str] = [base + path for base in self.nodes]
        self.url = self.urls[0]
        self.parse = LivedeskCodec.parse if gen.protocol == LIVEDESK else SocketIOCodec.parse
        self.reconnects = 0
        self.account: int = spec["account"]
        self.token: str | None = spec.get("token")
        self.slow: bool = spec.get("slow", False)
        self.ledger = Ledger()
        self.live = asyncio.Event()
        self.ever_live = False
        self.failed: str | None = None
        self.close_code: int | None = None
        self.last_close_code: int | None = None  # kept across reconnects
        self.closed_at: float | None = None
        self.stalled = False
        self.want_reconnect = False
        self.reconnect_t0: float | None = None
        self.conn: Connection | None = None
        self.opened_at = 0.0  # when the last handshake completed
        self.local_port = 0

    async def run(self) -> None:
        while True:
            try:
                closed = time.monotonic()
                async with self.gen.connecting:
                    slot = time.monotonic()
                    conn = await self._open()
                if self.reconnect_t0 is not None:
                    phases = self.gen.phases
                    phases["close"].add(closed - self.reconnect_t0)
                    phases["wait"].add(slot - closed)
                    phases["handshake"].add(self.opened_at - slot)
                try:
                    self.close_code = await conn.ended
                finally:  # also when the task is cancelled: the socket goes with it
                    conn.finish(None)
            # Refused, reset, timed out, an upgrade refused, bytes that are no frame.
            except OSError as error:
                self.failed = f"{type(error).__name__}: {error}"[:160]
            except CodecError as error:
                self.failed = f"CodecError: {error}"[:160]
            self.live.clear()
            self.conn = None
            if self.close_code is not None:
                self.gen.closes[self.close_code] += 1
                self.last_close_code = self.close_code
                self.closed_at = time.monotonic()
            if self.failed:
                self.gen.errors[self.failed.split(":")[0]] += 1
            if not self.want_reconnect:
                return
            self.want_reconnect = False
            self.failed = self.close_code = None
            self.reconnects += 1
            self.url = self.urls[self.reconnects % len(self.urls)]
            self.node = self.nodes[self.reconnects % len(self.nodes)]

    async def _open(self) -> Connection:
        """TCP connect and upgrade; the slow reader's socket gets a small receive buffer."""
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        loop = asyncio.get_running_loop()

        def connection() -> Connection:
            return Connection(self, parts.netloc, path)

        async with asyncio.timeout(OPEN_TIMEOUT_S):
            if self.slow:
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF_BYTES)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, (host, port))
                except BaseException:
                    sock.close()
                    raise
                _, conn = await loop.create_connection(connection, sock=sock)
            else:
                _, conn = await loop.create_connection(connection, host, port)
            try:
                await conn.accepted
            except BaseException:
                conn.finish(None)
                raise
        return conn

    def opened(self, conn: Connection) -> None:
        """Upgraded: Livedesk's client speaks first (auth, with resume after a reconnect)."""
        self.opened_at = time.monotonic()
        self.conn = conn
        assert conn.transport is not None
        self.local_port = conn.transport.get_extra_info("sockname")[1]
        self.gen.latency.setdefault(self.node, Histogram())
        if self.stalled:
            conn.set_reading(False)
        if self.gen.protocol == LIVEDESK:
            assert self.token is not None
            resume = self.ledger.last if self.ever_live else None
            conn.send_text(LivedeskCodec.auth_frame(self.token, resume).encode())

    def frame_received(self, conn: Connection, payload: bytes) -> None:
        frame = self.parse(payload)
        kind = frame.kind
        if kind is Kind.EVENT:
            now = time.time()
            self.ledger.record(frame.seq)
            if not self.slow:
                gen = self.gen
                gen.deliveries += 1
                gen.latency[self.node].add(now - frame.ts)
        elif kind is Kind.PING:
            assert frame.reply is not None
            conn.send_text(frame.reply.encode())
        elif kind is Kind.OPEN:
            conn.send_text(SocketIOCodec.connect_frame({"account_id": self.account}).encode())
        elif kind is Kind.LIVE:
            if self.gen.protocol == LIVEDESK and not self.ever_live:
                self.ledger.start(frame.seq)
            self.ever_live = True
            self.live.set()
            if self.reconnect_t0 is not None:
                now = time.monotonic()
                self.gen.phases["ready"].add(now - self.opened_at)
                self.gen.time_to_live.add(now - self.reconnect_t0)
                self.reconnect_t0 = None
        elif kind is Kind.REFUSED:
            self.gen.errors[frame.name] += 1
            if not self.ever_live:
                raise CodecError(f"refused: {frame.name}")
        elif kind is Kind.CLOSE:
            conn.finish(None)

    def stall(self, on: bool, resume: bool) -> None:
        self.stalled = on
        self.want_reconnect = resume
        if self.conn is not None:
            self.conn.set_reading(not on)

    async def reconnect(self) -> None:
        """Drop the socket as a laptop waking up would, and come back with resume."""
        conn = self.conn
        if conn is None:
            return
        self.reconnect_t0 = time.monotonic()
        self.want_reconnect = True
        conn.close()
        # The close handshake: the server's close frame, or give up on it.
        await asyncio.wait([conn.ended], timeout=CLOSE_TIMEOUT_S)
        conn.finish(CLOSE_ABNORMAL)
