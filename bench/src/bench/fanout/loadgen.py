"""The load generator: one worker process holding many client sockets, driven over JSON lines.

    python -m bench.fanout.loadgen      (started by the driver; requests on stdin)

Each client (`client`) is a lean WebSocket client on uvloop (`bench.wsclient`, an asyncio
Protocol that handles every frame inside `data_received`, with no task or queue per socket),
speaking one protocol (`codecs`): the peer's Engine.IO/Socket.IO or Livedesk's. It replaced
the `websockets` client, which cost the load generator 2-3 times the CPU of the two server
nodes it measured (issue #4). Clients authenticate, then read; every event read is timed
against the time it was published (peer) or committed (Livedesk `ts`) and checked in the
client's `Ledger`. Clients offer no permessage-deflate and send no pings of their own (both
servers run their own heartbeats, which are answered).

Requests: connect, reset, stats, stall/unstall (the slow reader, which resumes if it was closed
meanwhile), storm (reconnect with resume within a window), close. Deliberately not here:
publishing and server processes.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from typing import Any

import uvloop

from bench.fanout import rpc
from bench.fanout.client import PEER, Client
from bench.fanout.procs import raise_fd_limit
from bench.fanout.stats import Histogram

CONNECTS_IN_FLIGHT = 64
# A reconnect's time to live, in the order it is spent: the client's close handshake, the
# wait for one of this worker's CONNECTS_IN_FLIGHT slots, the TCP connect and WebSocket
# upgrade (the server's accept and handshake), and from then to `ready` (or the peer's
# connect ack). Where a storm queues shows in which one grows.
TTL_PHASES = ("close", "wait", "handshake", "ready")


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
                client.stall(bool(request["on"]), bool(request.get("resume", False)))
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
