"""Logins per second at the default argon2 cost, and what a login flood does to the p99 of a
request that is not a login.

    .venv/bin/python -m bench.logins [--seconds 10] [--flood 8,64] [--hammer 64]
        [--probe-rate 50]

A fresh database, one account, `livedesk api` on a loopback port with the production
password cost (argon2id, t=3, 64 MiB) and its default hash pool. A probe sends
`GET /v1/conversations` at `--probe-rate` a second on one keep-alive connection and times
each answer: first alone (idle), then while each flood runs: `--flood` connections posting
correct logins as fast as answers come back (correct: failures are throttled after a few and
cost no hash), each waiting what a 503's Retry-After says; then `--hammer` connections that
ignore it and ask again at once, an HTTP flood more than a login one. Prints logins/s, how
many were refused 503 (the pool's queue full), the probe's p50/p99 idle and under the
flood, and their ratio (the aim: under 2x).
Prints figures; asserts nothing. The API's log goes under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fanout.livedesk_setup import (
    PASSWORD,
    create_accounts,
    default_amqp_url,
    default_postgres_url,
    fresh_database,
    migrate,
    prepare_account,
    service_env,
    start_service,
)
from bench.fanout.procs import RESULTS, ProcessGroup, free_port

EMAIL = "admin@logins.bench.example"


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time: a lean client, so that
    the load generator costs little next to the server on a shared machine."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.retry_after_s = 0.0  # the last answer's Retry-After (0: it had none)

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(
        self, method: str, path: str, body: bytes = b"", token: str | None = None
    ) -> int:
        """Send, read the whole answer; its status."""
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        length, self.retry_after_s = 0, 0.0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"retry-after":
                self.retry_after_s = float(value)
        await self._reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self._writer.close()


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


async def probe(port: int, token: str, seconds: float, rate: float) -> list[float]:
    """GET /v1/conversations paced at `rate` a second: each answer's time in ms."""
    connection = await Connection.open(port)
    latencies: list[float] = []
    interval = 1 / rate
    next_at = time.monotonic()
    stop = next_at + seconds
    try:
        while (now := time.monotonic()) < stop:
            if next_at > now:
                await asyncio.sleep(next_at - now)
            next_at += interval
            sent = time.monotonic()
            status = await connection.request("GET", "/v1/conversations", token=token)
            if status != 200:
                raise RuntimeError(f"the probe got {status}")
            latencies.append((time.monotonic() - sent) * 1000)
    finally:
        connection.close()
    return latencies


async def flood(
    port: int, connections: int, seconds: float, *, honour_retry_after: bool = True
) -> Counter[int]:
    """Correct logins from `connections` connections until `seconds` pass: statuses. Each
    connection waits what Retry-After says, as a client should, unless told not to."""
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    statuses: Counter[int] = Counter()
    stop = time.monotonic() + seconds

    async def worker() -> None:
        connection = await Connection.open(port)
        try:
            while time.monotonic() < stop:
                statuses[await connection.request("POST", "/v1/auth/token", body)] += 1
                if honour_retry_after and connection.retry_after_s:
                    await asyncio.sleep(min(connection.retry_after_s, stop - time.monotonic()))
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


async def flood_process(
    port: int, connections: int, seconds: float, honour_retry_after: bool
) -> Counter[int]:
    """`flood` in a process of its own, so that its loop does not delay the probe's."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.logins", "--flood-only", str(connections),
        "--port", str(port), "--seconds", str(seconds),
        *(() if honour_retry_after else ("--ignore-retry-after",)),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the flood process exited {child.returncode}")
    return Counter({int(status): n for status, n in json.loads(out).items()})


@dataclass
class Result:
    name: str
    latencies: list[float]
    statuses: Counter[int]
    seconds: float

    def describe(self, idle_p99: float) -> str:
        logins = self.statuses.get(200, 0)
        others = {s: n for s, n in sorted(self.statuses.items()) if s != 200}
        p99 = pct(self.latencies, 99)
        flood = (
            f"{logins / self.seconds:.1f} logins/s, refused {others or 'none'}; "
            if self.statuses
            else ""
        )
        return (
            f"{self.name}: {flood}probe p50 {pct(self.latencies, 50):.1f} ms, "
            f"p99 {p99:.1f} ms ({p99 / idle_p99:.2f}x idle), {len(self.latencies)} requests"
        )


async def scenario(group: ProcessGroup, args: argparse.Namespace, tmp: Path) -> None:
    async with fresh_database(args.postgres_url) as database:
        env = service_env(database, args.amqp_url, tmp)
        await migrate(group, env)
        await create_accounts(database, [EMAIL])
        # The production cost: the cheap one the setup made the admin with is rehashed to
        # it at the first login.
        production = {k: v for k, v in env.items() if "PASSWORD" not in k}
        port = free_port()
        api = await start_service(group, "api", port, production)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                account = await prepare_account(http, 0, EMAIL)
            token = account.token or ""
            await probe(port, token, 1.0, args.probe_rate)  # warm up
            idle = Result("idle", await probe(port, token, args.seconds, args.probe_rate),
                          Counter(), args.seconds)  # fmt: skip
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(idle.describe(pct(idle.latencies, 99)))
            floods = [(int(c), True) for c in args.flood.split(",")]
            floods += [(int(c), False) for c in args.hammer.split(",") if c]
            for connections, honour in floods:
                latencies, statuses = await asyncio.gather(
                    probe(port, token, args.seconds, args.probe_rate),
                    flood_process(port, connections, args.seconds, honour),
                )
                how = "honouring Retry-After" if honour else "ignoring Retry-After"
                result = Result(f"flood of {connections} connections {how}", latencies,
                                statuses, args.seconds)  # fmt: skip
                print(result.describe(pct(idle.latencies, 99)))
            print(f"load average {os.getloadavg()[0]:.1f}")
        finally:
            await group.stop(api)


async def run(args: argparse.Namespace) -> None:
    logs = RESULTS / f"logs-logins-{time.strftime('%Y%m%d-%H%M%S')}"
    async with ProcessGroup(logs) as group:
        with tempfile.TemporaryDirectory() as tmp:
            await scenario(group, args, Path(tmp))
    print(f"process logs: {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood-only", type=int, help=argparse.SUPPRESS)  # flood_process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flood", default="8,64", help="connections of each login flood")
    parser.add_argument(
        "--hammer", default="64", help="connections of each flood that ignores Retry-After"
    )
    parser.add_argument("--ignore-retry-after", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe-rate", type=float, default=50.0, help="probe requests/s")
    parser.add_argument("--amqp-url", default=default_amqp_url())
    parser.add_argument("--postgres-url", default=default_postgres_url())
    args = parser.parse_args()
    if args.flood_only:
        honour = not args.ignore_retry_after
        statuses = asyncio.run(
            flood(args.port, args.flood_only, args.seconds, honour_retry_after=honour)
        )
        print(json.dumps(statuses))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
