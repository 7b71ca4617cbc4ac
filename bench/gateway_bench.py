"""Gateway benchmark: real gateway processes, real RabbitMQ, a lean load generator.

    .venv/bin/python -m bench.gateway_bench broadcast --sockets 1000 --rate 50 --duration 20
    .venv/bin/python -m bench.gateway_bench idle --sockets 5000

Workloads (pluggable, `WORKLOADS`):
- broadcast: N sockets of one account spread over the nodes, events published at a fixed
  rate; deliveries/s, latency p50/p99 (publish to socket read, from the event's `ts`), node
  CPU-seconds per 100,000 deliveries (utime+stime from /proc/<pid>/stat), and a loss check
  (every socket got offsets 1..M exactly once, in order).
- idle: N authenticated idle sockets; nodes' resident memory added per socket.
- sparse: N sockets, each its own account, events to random accounts at a fixed rate. The
  nodes' CPU is read twice: over `--idle-window` with the same sockets and no events (the
  fixed cost: sweeps, heartbeats, pings), then over the publishing window; the difference
  divided by the events is the per-event cost. `--print-pids` names the node processes on
  stderr before the windows, for a profiler to attach (py-spy is not a dependency).

Servers (pluggable, `SERVERS`): `livedesk` starts `livedesk gateway` processes. The API and
presence are a stub in this process (`StubApi`): replay from the events the bench published,
latest offsets, empty presence; so the figures are the gateways', not the API's. A peer server
(python-socketio with AsyncAioPikaManager) can be added as another `Server` with the same
load generator: it needs `start`, `pids`, `auth_frame` and `stop`.

Publishing goes straight to livedesk.events through RabbitBus, as the API's relay does.
Print is the output; nothing is asserted. The machine is shared: say so with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bench.fanout.procs import raise_fd_limit
from bench.wsload import run_worker
from livedesk.shared import events, routing
from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.settings import BusSettings
from livedesk.shared.tokens import Role, TokenSigner, ensure_key_pair, load_private_key
from livedesk.shared.topology import EVENTS

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


class StubApi:
    """The API's replay contract and presence's lookups, answered from memory."""

    def __init__(self) -> None:
        self.events: dict[int, list[bytes]] = {}
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                request = head.decode("latin-1").split("\r\n")
                target = request[0].split(" ")[1]
                token = next(
                    (h.split(" ", 2)[2] for h in request if h.lower().startswith("authorization")),
                    "",
                )
                body = self._answer(target, token)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, target: str, token: str) -> bytes:
        account = _account_of(token)
        path, _, query = target.partition("?")
        if path == "/v1/events":
            params = dict(pair.split("=") for pair in query.split("&") if pair)
            after, limit = int(params.get("after", 0)), int(params.get("limit", 100))
            log = self.events.get(account, [])
            page = log[after : after + limit]
            return b'{"events":[%s],"latest_offset":%d}' % (b",".join(page), len(log))
        if path == "/v1/presence":
            return json.dumps({"account_id": account, "agents": {}, "typing": {}}).encode()
        if path.startswith("/v1/presence/conversations/"):
            return b'{"conversation_id":0,"typing":[]}'
        return b"{}"


def _account_of(token: str) -> int:
    import base64

    payload = token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(data["acct"])


class Server(Protocol):
    name: str

    async def start(self, nodes: int) -> list[str]: ...

    def pids(self) -> list[int]: ...

    def auth_frame(self, account_id: int, user_id: int) -> bytes: ...

    async def node_latency_s(self, urls: list[str]) -> float: ...

    async def stop(self) -> None: ...


class LivedeskServer:
    name = "livedesk"

    def __init__(self, amqp_url: str, api: StubApi, workdir: Path) -> None:
        self._amqp_url, self._api = amqp_url, api
        private, self._public = ensure_key_pair(workdir / "keys")
        self._signer = TokenSigner(load_private_key(private), issuer="livedesk", ttl_s=3600)
        self._processes: list[subprocess.Popen[bytes]] = []

    async def start(self, nodes: int) -> list[str]:
        urls = []
        for number in range(nodes):
            port = free_port()
            env = {
                **os.environ,
                "LIVEDESK_AMQP_URL": self._amqp_url,
                "LIVEDESK_API_URL": f"http://127.0.0.1:{self._api.port}",
                "LIVEDESK_PRESENCE_URL": f"http://127.0.0.1:{self._api.port}",
                "LIVEDESK_TOKENS__PUBLIC_KEY_PATH": str(self._public),
                "LIVEDESK_LOG_LEVEL": "WARNING",
            }
            command = [
                sys.executable, "-m", "livedesk.cli.main", "gateway", "--host", "127.0.0.1",
                "--port", str(port), "--node-id", f"bench-{number}-{os.getpid()}",
            ]  # fmt: skip
            # Popen returns at once; the processes are waited on in stop().
            self._processes.append(subprocess.Popen(command, env=env, cwd=ROOT))  # noqa: ASYNC220
            urls.append(f"ws://127.0.0.1:{port}/ws")
        for url in urls:
            await _wait_port(int(url.rsplit(":", 1)[1].split("/")[0]))
        return urls

    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    async def node_latency_s(self, urls: list[str]) -> float:
        """Mean commit-to-write latency the nodes measured themselves (their histogram)."""
        total = count = 0.0
        for url in urls:
            http = url.replace("ws://", "http://").replace("/ws", "/metrics")
            host, port = http.split("//")[1].split("/")[0].split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"GET /metrics HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            text = (await reader.read(1 << 20)).decode()
            writer.close()
            for line in text.splitlines():
                if line.startswith("livedesk_gateway_commit_to_write_seconds_sum"):
                    total += float(line.split()[-1])
                elif line.startswith("livedesk_gateway_commit_to_write_seconds_count"):
                    count += float(line.split()[-1])
        return total / count if count else float("nan")

    def auth_frame(self, account_id: int, user_id: int) -> bytes:
        token = self._signer.issue(user_id=user_id, account_id=account_id, role=Role.AGENT)
        return json.dumps({"type": "auth", "token": token}).encode()

    async def stop(self) -> None:
        """Idempotent: SIGTERM (the gateways drain), then wait, then SIGKILL."""
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()


async def _wait_port(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Load:
    """Worker processes holding the sockets; asks them for counts."""

    def __init__(self, urls: list[str], auths: list[bytes], workers: int, sample_every: int):
        context = multiprocessing.get_context("spawn")
        self._pipes = []
        self._processes = []
        for index in range(workers):
            parent, child = context.Pipe()
            share = auths[index::workers]
            process = context.Process(
                target=run_worker, args=(child, urls, share, sample_every), daemon=True
            )
            process.start()
            self._pipes.append(parent)
            self._processes.append(process)

    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.pid is not None]

    async def ready(self) -> int:
        answers = [await asyncio.to_thread(pipe.recv) for pipe in self._pipes]
        if errors := [a["error"] for a in answers if "error" in a]:
            raise RuntimeError(f"load generator failed: {errors}")
        if failures := sum(a["failures"] for a in answers):
            examples = [(a["failed"], a["closes"]) for a in answers if a["failures"]]
            print(f"# {failures} sockets failed to become ready: {examples}", file=sys.stderr)
        return sum(int(a["ready"]) for a in answers)

    async def stats(self, expected: int | None = None) -> dict[str, Any]:
        total: dict[str, Any] = {"events": 0, "violations": 0, "missing": 0, "latencies": []}
        for pipe in self._pipes:
            pipe.send({"cmd": "stats", "expected": expected})
            answer = await asyncio.to_thread(pipe.recv)
            for key in ("events", "violations", "missing"):
                total[key] += answer[key]
            total["latencies"] += answer["latencies"]
            for code, count in answer["closes"].items():
                total.setdefault("closes", {}).setdefault(code, 0)
                total["closes"][code] += count
        return total

    async def stop(self) -> None:
        for pipe in self._pipes:
            try:
                pipe.send({"cmd": "stop"})
                await asyncio.to_thread(pipe.recv)
            except (OSError, EOFError):
                pass  # that worker is gone already
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()


async def publish_at_rate(
    bus: RabbitBus,
    api: StubApi,
    accounts: list[int],
    rate: float,
    duration_s: float,
    pick: Callable[[list[int]], int] = lambda accounts: accounts[0],
) -> int:
    """Publish `rate` new_message events a second for `duration_s`; return how many."""
    count = int(rate * duration_s)
    started = time.monotonic()
    for index in range(count):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        account_id = pick(accounts)
        log = api.events.setdefault(account_id, [])
        now = datetime.now(UTC)
        offset = len(log) + 1
        event = events.NewMessage(
            offset=offset, account_id=account_id, conversation_id=1, ts=now,
            data=events.MessageData(
                id=offset, conversation_id=1, kind=events.MessageKind.INCOMING,
                content="Hello, I have a question about my order #12345. Can you help?",
                sender_type=events.SenderType.CONTACT, created_at=now,
            ),
        )  # fmt: skip
        body = events.encode(event)
        log.append(body)
        await bus.publish(Message(EVENTS, routing.event_key(event), body))
    return count


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def broadcast(server: Server, api: StubApi, args: argparse.Namespace) -> dict[str, Any]:
    urls = await server.start(args.nodes)
    account = 7_000_000 + os.getpid()
    auths = [server.auth_frame(account, user) for user in range(1, args.sockets + 1)]
    load = Load(urls, auths, args.workers, args.sample_every)
    try:
        ready = await load.ready()
        await asyncio.sleep(1.0)  # let binds, presence_state and the like settle
        async with RabbitBus.connect(args.amqp_url, BusSettings(), name="bench-publisher") as bus:
            load_average = os.getloadavg()[0]
            cpu_before = sum(cpu_seconds(pid) for pid in server.pids())
            load_cpu_before = sum(cpu_seconds(pid) for pid in load.pids())
            started = time.monotonic()
            published = await publish_at_rate(bus, api, [account], args.rate, args.duration)
            expected_total = published * ready
            stats = await load.stats(published)
            deadline = time.monotonic() + 30
            while stats["events"] < expected_total and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                more = await load.stats(published)
                more["latencies"] = stats["latencies"] + more["latencies"]
                stats = more
            elapsed = time.monotonic() - started
            cpu = sum(cpu_seconds(pid) for pid in server.pids()) - cpu_before
            load_cpu = sum(cpu_seconds(pid) for pid in load.pids()) - load_cpu_before
            node_latency = await server.node_latency_s(urls)
    finally:
        await load.stop()
    deliveries = stats["events"]
    latencies = stats["latencies"]
    return {
        "server": server.name,
        "workload": "broadcast",
        "nodes": args.nodes,
        "sockets": ready,
        "rate_events_s": args.rate,
        "published": published,
        "deliveries": deliveries,
        "deliveries_expected": expected_total,
        "deliveries_per_s": round(deliveries / elapsed),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "latency_samples": len(latencies),
        "node_commit_to_write_mean_ms": round(node_latency * 1000, 2),
        "node_cpu_s": round(cpu, 2),
        "node_cpu_s_per_100k_deliveries": round(cpu / max(deliveries, 1) * 100_000, 3),
        "node_cpu_us_per_delivery": round(cpu / max(deliveries, 1) * 1e6, 2),
        "node_cpu_share": round(cpu / elapsed, 2),  # cores busy, summed over the nodes
        "loadgen_cpu_share": round(load_cpu / elapsed, 2),
        "machine_load_average_1m_at_start": round(load_average, 2),
        "order_violations": stats["violations"],
        "missing": stats["missing"],
        "closes": stats.get("closes", {}),
    }


async def idle(server: Server, api: StubApi, args: argparse.Namespace) -> dict[str, Any]:
    urls = await server.start(args.nodes)
    base = 8_000_000 + os.getpid() * 1000
    # A warm-up socket per node loads every code path before the baseline is read.
    warm = Load(urls, [server.auth_frame(base, 1) for _ in urls], 1, 1)
    await warm.ready()
    await asyncio.sleep(1.0)
    before = sum(rss_bytes(pid) for pid in server.pids())
    per_account = 50
    auths = [server.auth_frame(base + 1 + n // per_account, n + 2) for n in range(args.sockets)]
    load = Load(urls, auths, args.workers, 10**9)
    try:
        ready = await load.ready()
        await asyncio.sleep(3.0)
        after = sum(rss_bytes(pid) for pid in server.pids())
        # What holding the sockets costs with no traffic: pings, sweeps, heartbeats.
        cpu_before = sum(cpu_seconds(pid) for pid in server.pids())
        await asyncio.sleep(args.idle_window)
        idle_cpu = sum(cpu_seconds(pid) for pid in server.pids()) - cpu_before
    finally:
        await load.stop()
        await warm.stop()
    return {
        "server": server.name,
        "workload": "idle",
        "nodes": args.nodes,
        "sockets": ready,
        "accounts": -(-ready // per_account),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "bytes_per_idle_socket": round((after - before) / max(ready, 1)),
        "idle_node_cpu_share": round(idle_cpu / args.idle_window, 3),
    }


async def sparse(server: Server, api: StubApi, args: argparse.Namespace) -> dict[str, Any]:
    urls = await server.start(args.nodes)
    base = 9_000_000 + os.getpid() * 10_000
    accounts = [base + n for n in range(args.sockets)]
    auths = [server.auth_frame(account, 1) for account in accounts]
    load = Load(urls, auths, args.workers, args.sample_every)
    pids = server.pids()
    try:
        ready = await load.ready()
        await asyncio.sleep(3.0)  # binds, presence_state and handshakes' garbage settle
        if args.print_pids:
            print(f"# node pids: {' '.join(map(str, pids))}", file=sys.stderr, flush=True)
        load_average = os.getloadavg()
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(args.idle_window)
        idle_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
        chooser = random.Random(args.seed)
        async with RabbitBus.connect(args.amqp_url, BusSettings(), name="bench-publisher") as bus:
            cpu1 = sum(cpu_seconds(pid) for pid in pids)
            started = time.monotonic()
            published = await publish_at_rate(
                bus, api, accounts, args.rate, args.duration, chooser.choice
            )
            stats = await load.stats()
            deadline = time.monotonic() + 30
            while stats["events"] < published and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                more = await load.stats()
                more["latencies"] = stats["latencies"] + more["latencies"]
                stats = more
            elapsed = time.monotonic() - started
            busy_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu1
    finally:
        await load.stop()
    idle_share = idle_cpu / args.idle_window
    per_event = (busy_cpu - idle_share * elapsed) / max(published, 1)
    latencies = stats["latencies"]
    return {
        "server": server.name,
        "workload": "sparse",
        "nodes": args.nodes,
        "sockets": ready,
        "rate_events_s": args.rate,
        "published": published,
        "deliveries": stats["events"],
        "order_violations": stats["violations"],
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "idle_node_cpu_share": round(idle_share, 4),  # cores busy, summed over the nodes
        "busy_node_cpu_s": round(busy_cpu, 2),
        "busy_window_s": round(elapsed, 2),
        "idle_part_of_busy_cpu": round(idle_share * elapsed / busy_cpu, 3) if busy_cpu else None,
        "node_cpu_us_per_event_above_idle": round(per_event * 1e6, 1),
        "deliveries_per_node_cpu_s": round(stats["events"] / busy_cpu) if busy_cpu else None,
        "load_average_at_start": [round(x, 2) for x in load_average],
        "closes": stats.get("closes", {}),
    }


Workload = Callable[[Server, StubApi, argparse.Namespace], Awaitable[dict[str, Any]]]
WORKLOADS: dict[str, Workload] = {"broadcast": broadcast, "idle": idle, "sparse": sparse}
SERVERS: dict[str, Callable[[str, StubApi, Path], Server]] = {"livedesk": LivedeskServer}


async def main(args: argparse.Namespace) -> None:
    raise_fd_limit()  # children inherit it
    api = StubApi()
    await api.start()
    try:
        for name in args.server:
            with tempfile.TemporaryDirectory(prefix="gateway-bench-") as workdir:
                server = SERVERS[name](args.amqp_url, api, Path(workdir))
                try:
                    result = await WORKLOADS[args.workload](server, api, args)
                finally:
                    await server.stop()
                print(json.dumps(result), flush=True)
    finally:
        await api.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--server", action="append", choices=sorted(SERVERS))
    parser.add_argument("--amqp-url", default=os.environ.get("LIVEDESK_AMQP_URL",
                        "amqp://guest:guest@127.0.0.1:5672/"))  # fmt: skip
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--idle-window", type=float, default=10.0, help="idle: CPU window s")
    parser.add_argument("--sample-every", type=int, default=10, help="latency: 1 socket in N")
    parser.add_argument("--seed", type=int, default=1, help="sparse: account choice")
    parser.add_argument("--print-pids", action="store_true", help="sparse: node pids to stderr")
    args = parser.parse_args(argv)
    args.server = args.server or ["livedesk"]
    return args


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(parse_args()))
