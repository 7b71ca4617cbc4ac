"""The load generator: one worker process holding many client sockets, driven over JSON lines.

    python -m bench.fanout.loadgen      (started by the driver; requests on stdin)

Each client is a `websockets` asyncio client connection on uvloop speaking one protocol
(`codecs`): the peer's Engine.IO/Socket.IO or Livedesk's. Clients authenticate, then read;
every event read is timed against the time it was published (peer) or committed (Livedesk
`ts`) and checked in the client's `Ledger`. Clients do not offer permessage-deflate and send
no pings of their own (both servers run their own heartbeats, which are answered).

Requests: connect, reset, stats, stall/unstall (the slow reader, which resumes if it was closed
meanwhile), storm (reconnect with resume within a window), close. Deliberately not here:
publishing and server processes.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.fanout import rpc
from bench.fanout.codecs import CodecError, Kind, LivedeskCodec, SocketIOCodec
from bench.fanout.procs import raise_fd_limit
from bench.fanout.stats import Histogram, Ledger

PEER = "peer"
LIVEDESK = "livedesk"
# A stalled reader's kernel receive buffer: small, as on a congested mobile link, so the
# server feels the stall in seconds instead of after megabytes of loopback autotuning.
SLOW_RCVBUF_BYTES = 16 * 1024
CONNECTS_IN_FLIGHT = 64
# A reconnect's time to live, in the order it is spent: the client's close handshake, the
# wait for one of this worker's CONNECTS_IN_FLIGHT slots, the TCP connect and WebSocket
# upgrade (the server's accept and handshake), and from then to `ready` (or the peer's
# connect ack). Where a storm queues shows in which one grows.
TTL_PHASES = ("close", "wait", "handshake", "ready")


class Client:
    def __init__(self, gen: Generator, index: int, spec: dict[str, Any]) -> None:
        self.gen, self.index = gen, index
        path = LivedeskCodec.path if gen.protocol == LIVEDESK else SocketIOCodec.path
        self.nodes: list[str] = spec.get("urls") or [spec["url"]]
        self.node = self.nodes[0]  # the server node's base URL: latency is kept per node
        self.urls: list[str] = [base + path for base in self.nodes]
        self.url = self.urls[0]
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
        self.readable = asyncio.Event()
        self.readable.set()
        self.stalled = False
        self.want_reconnect = False
        self.reconnect_t0: float | None = None
        self.ws: ClientConnection | None = None
        self.opened = 0.0  # when the last handshake completed
        self.local_port = 0

    async def run(self) -> None:
        while True:
            try:
                closed = time.monotonic()
                async with self.gen.connecting:
                    slot = time.monotonic()
                    ws = await self._open()
                    self.opened = time.monotonic()
                if self.reconnect_t0 is not None:
                    phases = self.gen.phases
                    phases["close"].add(closed - self.reconnect_t0)
                    phases["wait"].add(slot - closed)
                    phases["handshake"].add(self.opened - slot)
                self.ws = ws
                self.local_port = ws.local_address[1]
                async with ws:
                    await self._read(ws)
            except ConnectionClosed as closed:
                self.close_code = closed.rcvd.code if closed.rcvd else 1006
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self.failed = f"{type(error).__name__}: {error}"[:160]
            except CodecError as error:
                self.failed = f"CodecError: {error}"[:160]
            self.live.clear()
            self.ws = None
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

    async def _open(self) -> ClientConnection:
        sock = None
        if self.slow:
            parts = urlsplit(self.url)
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF_BYTES)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        return await connect(
            self.url,
            sock=sock,
            compression=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
            max_size=2**20,
        )

    async def _read(self, ws: ClientConnection) -> None:
        gen, ledger, node = self.gen, self.ledger, self.node
        gen.latency.setdefault(node, Histogram())
        protocol = gen.protocol
        if protocol == LIVEDESK:
            assert self.token is not None
            resume = ledger.last if self.ever_live else None
            await ws.send(LivedeskCodec.auth_frame(self.token, resume))
            parse = LivedeskCodec.parse
        else:
            parse = SocketIOCodec.parse
        while True:
            if self.stalled:
                await self.readable.wait()
            frame = parse(await ws.recv())
            kind = frame.kind
            if kind is Kind.EVENT:
                now = time.time()
                ledger.record(frame.seq)
                if not self.slow:
                    gen.deliveries += 1
                    gen.latency[node].add(now - frame.ts)
            elif kind is Kind.PING:
                assert frame.reply is not None
                await ws.send(frame.reply)
            elif kind is Kind.OPEN:
                await ws.send(SocketIOCodec.connect_frame({"account_id": self.account}))
            elif kind is Kind.LIVE:
                if protocol == LIVEDESK and not self.ever_live:
                    ledger.start(frame.seq)
                self.ever_live = True
                self.live.set()
                if self.reconnect_t0 is not None:
                    now = time.monotonic()
                    gen.phases["ready"].add(now - self.opened)
                    gen.time_to_live.add(now - self.reconnect_t0)
                    self.reconnect_t0 = None
            elif kind is Kind.REFUSED:
                gen.errors[frame.name] += 1
                if not self.ever_live:
                    raise CodecError(f"refused: {frame.name}")
            elif kind is Kind.CLOSE:
                return

    async def reconnect(self) -> None:
        """Drop the socket as a laptop waking up would, and come back with resume."""
        ws = self.ws
        if ws is None:
            return
        self.reconnect_t0 = time.monotonic()
        self.want_reconnect = True
        await ws.close()


class Generator:
    def __init__(self) -> None:
        self.protocol = PEER
        self.clients: list[Client] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.connecting = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
        self.latency: dict[str, Histogram] = {}  # by node base URL
        self.time_to_live = Histogram()
        self.phases = {phase: Histogram() for phase in TTL_PHASES}  # of time_to_live
        self.deliveries = 0
        self.closes: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    async def connect(self, request: dict[str, Any]) -> dict[str, Any]:
        self.protocol = request["protocol"]
        start = len(self.clients)
        fresh = [Client(self, start + i, spec) for i, spec in enumerate(request["clients"])]
        self.clients.extend(fresh)
        started = time.monotonic()
        runs = [asyncio.create_task(client.run()) for client in fresh]
        self.tasks.extend(runs)
        deadline = started + request.get("timeout_s", 120.0)
        # Until every new client is live or has given up (its task ended), or the deadline.
        while time.monotonic() < deadline:
            if all(c.live.is_set() or run.done() for c, run in zip(fresh, runs, strict=True)):
                break
            await asyncio.sleep(0.1)
        live = sum(1 for c in fresh if c.live.is_set())
        return {
            "live": live,
            "failed": len(fresh) - live,
            "seconds": time.monotonic() - started,
            "errors": dict(self.errors),
        }

    async def reset(self, _request: dict[str, Any]) -> dict[str, Any]:
        self.latency = {node: Histogram() for node in self.latency}
        self.time_to_live, self.deliveries = Histogram(), 0
        self.phases = {phase: Histogram() for phase in TTL_PHASES}
        self.closes.clear()
        self.errors.clear()
        for client in self.clients:
            client.ledger.reset_counts()
        return {}

    async def stats(self, request: dict[str, Any]) -> dict[str, Any]:
        expected: dict[str, int] = request.get("expected", {})
        loss = dups = lossy = 0
        for client in self.clients:
            if client.slow:
                continue
            missing = client.ledger.missing(expected.get(str(client.account), 0))
            loss += missing
            lossy += missing > 0
            dups += client.ledger.duplicates
        slow = [c for c in self.clients if c.slow]
        return {
            "clients": len(self.clients),
            "live": sum(1 for c in self.clients if c.live.is_set()),
            "deliveries": self.deliveries,
            "latency": {node: h.to_json() for node, h in self.latency.items()},
            "time_to_live": self.time_to_live.to_json(),
            "ttl_phases": {phase: h.to_json() for phase, h in self.phases.items()},
            "loss": loss,
            "clients_with_loss": lossy,
            "duplicates": dups,
            "closes": {str(code): n for code, n in self.closes.items()},
            "errors": dict(self.errors),
            "slow": [
                {
                    "close_code": c.last_close_code,
                    "closed_at": c.closed_at,
                    "received": c.ledger.received,
                    "local_port": c.local_port,
                    "live": c.live.is_set(),
                    "reconnects": c.reconnects,
                    "missing": c.ledger.missing(expected.get(str(c.account), 0)),
                    "duplicates": c.ledger.duplicates,
                }
                for c in slow
            ],
        }

    async def stall(self, request: dict[str, Any]) -> dict[str, Any]:
        """Stop (on) or restart the slow readers' reading; with `resume`, a slow reader the
        server closes meanwhile comes back with resume, as a real client would."""
        for client in self.clients:
            if client.slow:
                client.stalled = bool(request["on"])
                client.want_reconnect = bool(request.get("resume", False))
                (client.readable.clear if client.stalled else client.readable.set)()
        return {"now": time.monotonic()}

    async def storm(self, request: dict[str, Any]) -> dict[str, Any]:
        window_s: float = request["window_s"]
        rng = random.Random(request.get("seed", 1))
        started = time.monotonic()

        async def one(client: Client) -> None:
            await asyncio.sleep(rng.uniform(0, window_s))
            await client.reconnect()

        await asyncio.gather(*(one(c) for c in self.clients if c.live.is_set()))
        deadline = started + window_s + request.get("grace_s", 30.0)
        while time.monotonic() < deadline:
            if all(c.live.is_set() for c in self.clients):
                break
            await asyncio.sleep(0.05)
        return {
            "seconds": time.monotonic() - started,
            "live": sum(1 for c in self.clients if c.live.is_set()),
        }

    async def close(self, _request: dict[str, Any]) -> dict[str, Any]:
        for client in self.clients:
            client.want_reconnect = False
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return {}


async def main() -> None:
    raise_fd_limit()
    gen = Generator()
    await rpc.serve(
        {
            "connect": gen.connect,
            "reset": gen.reset,
            "stats": gen.stats,
            "stall": gen.stall,
            "storm": gen.storm,
            "close": gen.close,
        }
    )


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
