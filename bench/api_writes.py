"""Message writes per second through the REST API, with PostgreSQL, the outbox and the relay.

    .venv/bin/python -m bench.api_writes [--accounts 1,20] [--seconds 8] [--connections 32]
        [--workers N] [--paced-rate R]

For each account count: a fresh database, `livedesk api [--workers N]` on a loopback port,
and a lean keep-alive HTTP/1.1 client (hand-built requests, so the load generator costs
little next to the server) that posts messages round-robin over the accounts'
conversations as fast as answers come back: that is the max rate. It prints the CPU the
API's processes and the database's backends spent per write (from /proc: a ratio that
depends less than writes/s on what else the shared machine runs), the load average, and
how soon the relay caught up. Then a paced run at half that
rate (or `--paced-rate`): each request's time to its answer; from the relay's histograms,
commit-to-confirm (from the moment the event's commit returned in the API to the broker's
confirm) and written-to-confirm (from the event's `ts`, taken before its writing statement,
so the write's own time is in it); written-to-delivery at a broker consumer of every
account's events, from the same `ts`; and answer-to-delivery, from the moment the API's
answer (sent after the commit) was read by the client. Quantiles from a histogram are
interpolated within their bucket, as Prometheus does, and printed with the bucket.
Prints figures; asserts nothing. Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from livedesk.shared.events import NewMessage
from tests.support.api import (
    ApiProcess,
    admin_email,
    collect_events,
    livedesk_env,
    make_tenant,
    open_conversation,
    postgres_database,
    prepare_database,
)
from tests.support.services import LOOPBACK_AMQP_URL, LOOPBACK_DATABASE_URL


class Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads one response at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return int(status_line.split()[1]), await self._reader.readexactly(length)

    def close(self) -> None:
        self._writer.close()


async def drive(
    port: int,
    targets: list[tuple[str, str]],
    seconds: float,
    connections: int,
    rate: float | None = None,
    latencies_ms: list[float] | None = None,
    answered_at: dict[int, float] | None = None,
) -> tuple[int, int, float]:
    """Post for `seconds`; paced at `rate` per second overall when given. (ok, errors, s).
    When given, each request's time to its answer goes to `latencies_ms`, and the wall
    clock of each 201 to `answered_at`, by the id of the message it created."""
    ok = errors = 0
    stop = time.monotonic() + seconds
    interval = connections / rate if rate else 0.0

    async def worker(index: int) -> None:
        nonlocal ok, errors
        connection = await Connection.open(port)
        n = index
        next_at = time.monotonic() + (interval * index / connections)
        try:
            while (now := time.monotonic()) < stop:
                if interval:
                    if next_at > now:
                        await asyncio.sleep(next_at - now)
                    next_at += interval
                path, token = targets[n % len(targets)]
                body = json.dumps({"content": f"bench {index}-{n}"}).encode()
                sent = time.monotonic()
                status, answer = await connection.post(path, token, body)
                if latencies_ms is not None:
                    latencies_ms.append((time.monotonic() - sent) * 1000)
                if status == 201:
                    ok += 1
                    if answered_at is not None:
                        answered_at[json.loads(answer)["id"]] = time.time()
                else:
                    errors += 1
                n += connections
        finally:
            connection.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    return ok, errors, time.monotonic() - started


class CpuMeter:
    """CPU seconds (user + system) of a set of processes, from /proc: Linux only."""

    TICK_S = 1 / os.sysconf("SC_CLK_TCK")

    @classmethod
    def seconds(cls, pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone: a PostgreSQL backend that closed
            total += (int(fields[11]) + int(fields[12])) * cls.TICK_S
        return total


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc: Linux only."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [p for child in children for p in process_tree(int(child))]


async def backend_pids(database_url: str) -> list[int]:
    """PostgreSQL's server processes serving this benchmark's database."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


@dataclass
class Usage:
    """What one measured run cost: API and PostgreSQL CPU, wall time, machine load."""

    writes: int
    wall_s: float
    api_cpu_s: float
    pg_cpu_s: float
    load: tuple[float, float, float]

    def describe(self) -> str:
        per = max(self.writes, 1)
        return (
            f"API CPU {1000 * self.api_cpu_s / per:.2f} ms/write "
            f"({self.api_cpu_s / self.wall_s:.2f} cores), PostgreSQL backends "
            f"{1000 * self.pg_cpu_s / per:.2f} ms/write ({self.pg_cpu_s / self.wall_s:.2f} cores); "
            f"load average {self.load[0]:.1f} on {os.cpu_count()} cores"
        )


async def measured(
    api_pids: list[int], database_url: str, run: Awaitable[tuple[int, int, float]]
) -> tuple[int, int, float, Usage]:
    pg_pids = await backend_pids(database_url)
    api0, pg0 = CpuMeter.seconds(api_pids), CpuMeter.seconds(pg_pids)
    ok, errors, took = await run
    api1, pg1 = CpuMeter.seconds(api_pids), CpuMeter.seconds(pg_pids)
    usage = Usage(ok, took, api1 - api0, pg1 - pg0, os.getloadavg())
    return ok, errors, took, usage


async def scenario(
    database_url: str,
    accounts: int,
    seconds: float,
    connections: int,
    workers: int,
    tmp: Path,
    paced_rate: float | None,
) -> None:
    account_ids = await prepare_database(database_url, accounts)
    env = livedesk_env(
        {
            "LIVEDESK_DATABASE_URL": database_url,
            "LIVEDESK_AMQP_URL": LOOPBACK_AMQP_URL,
            "LIVEDESK_DATA_DIR": str(tmp),
        }
    )
    with ApiProcess(env, args=("--workers", str(workers)) if workers > 1 else ()) as api:
        if workers > 1:
            await asyncio.sleep(3.0)  # /healthz answered from one worker: let the rest listen
        targets = []
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            for n, account_id in enumerate(account_ids):
                tenant = await make_tenant(client, admin_email(n), account_id, 0)
                conversation = await open_conversation(client, tenant)
                path = f"/v1/conversations/{conversation}/messages"
                targets.append((path, tenant.token))
        await drive(api.port, targets, 1.0, connections)  # warm up
        # Every process of the API: the supervisor's workers, each one's relay process.
        pids = process_tree(api.pid)
        await drained(database_url)
        published = await published_events(database_url)
        ok, errors, took, usage = await measured(
            pids, database_url, drive(api.port, targets, seconds, connections)
        )
        max_rate = ok / took
        # The relay must keep up too: how long the backlog left by the run takes to go.
        drain_s = await drained(database_url)
        relayed = await published_events(database_url) - published
        print(
            f"accounts={accounts} connections={connections} api workers={workers}: "
            f"max {max_rate:.0f} writes/s ({ok} in {took:.1f} s, {errors} errors)\n"
            f"  {usage.describe()}\n"
            f"  relay: backlog drained {drain_s:.1f} s after the run: "
            f"{relayed / (took + drain_s):.0f} events/s published with confirms"
        )
        # Latency at half the max rate (or the rate asked for): the relay's own histograms
        # over this run only, and a consumer timing every event's arrival.
        async with httpx.AsyncClient() as client:
            before = relay_buckets((await client.get(api.url + "/metrics")).text)
        async with collect_events(LOOPBACK_AMQP_URL, *account_ids, prefetch=1000) as collector:
            await asyncio.sleep(0.5)
            seen = len(collector.received)
            answered: list[float] = []
            answered_at: dict[int, float] = {}
            rate = paced_rate or max_rate / 2
            ok, errors, took, usage = await measured(
                pids,
                database_url,
                drive(api.port, targets, seconds, connections, rate, answered, answered_at),
            )
            await asyncio.sleep(1.0)
            arrivals = list(
                zip(collector.arrived_at[seen:], collector.received[seen:], strict=True)
            )
            latencies = sorted((at - event.ts.timestamp()) * 1000 for at, event in arrivals)
            # From the answer, which the API sends after the commit: the event's `ts` is
            # taken before the writing statement, so the write's own time is in `latencies`.
            after_answer = sorted(
                (at - answered_at[event.data.id]) * 1000
                for at, event in arrivals
                if isinstance(event, NewMessage) and event.data.id in answered_at
            )
        async with httpx.AsyncClient() as client:
            after = relay_buckets((await client.get(api.url + "/metrics")).text)
        # Each worker keeps its own metrics and a scrape reaches any one of them.
        one = workers == 1
        confirm = quantiles(before, after, COMMIT_TO_CONFIRM) if one else "n/a, several workers"
        written = quantiles(before, after, WRITTEN_TO_CONFIRM) if one else "n/a"
        print(
            f"  at {ok / took:.0f} writes/s (paced, {errors} errors): {usage.describe()}\n"
            f"    request to answer (the write, its commit included): "
            f"p50 {pct(answered, 50):.1f} ms, p99 {pct(answered, 99):.1f} ms\n"
            f"    commit-to-confirm (relay histogram, from the commit's return in the API): "
            f"{confirm}\n"
            f"    written-to-confirm (relay histogram, from the event's ts): {written}\n"
            f"    written-to-delivery at a consumer of all {len(latencies)} events: "
            f"p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
            f"max {max(latencies, default=0):.1f} ms\n"
            f"    answer-to-delivery (the API answers after the commit), {len(after_answer)} "
            f"messages: p50 {pct(after_answer, 50):.1f} ms, p99 {pct(after_answer, 99):.1f} ms"
        )


def pct(values: list[float], p: float) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def outbox(database_url: str, query: str) -> int:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(query))).scalar_one() or 0)
    finally:
        await engine.dispose()


async def published_events(database_url: str) -> int:
    """Events the relays (of every worker) have had confirmed, from the database."""
    return await outbox(database_url, "SELECT sum(published_offset) FROM event_relay")


async def drained(database_url: str, timeout_s: float = 120.0) -> float:
    """Wait until the outbox backlog is empty; how long that took."""
    backlog = (
        "SELECT sum(o.last_offset - r.published_offset) FROM account_offsets o "
        "JOIN event_relay r ON r.account_id = o.account_id"
    )
    started = time.monotonic()
    while await outbox(database_url, backlog) > 0:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"outbox backlog not drained in {timeout_s} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


# The relay's histograms: from the commit's return in the API, and from the event's `ts`.
COMMIT_TO_CONFIRM = "livedesk_outbox_commit_to_publish_seconds"
WRITTEN_TO_CONFIRM = "livedesk_outbox_written_to_publish_seconds"

Buckets = dict[str, list[tuple[float, float]]]


def relay_buckets(metrics: str) -> Buckets:
    """The relay's histograms: for each, (upper bound s, cumulative count) per bucket."""
    buckets: Buckets = {COMMIT_TO_CONFIRM: [], WRITTEN_TO_CONFIRM: []}
    for line in metrics.splitlines():
        name = line.split("_bucket{", 1)[0]
        if name in buckets:
            le = line.split('le="')[1].split('"')[0]
            buckets[name].append((float(le), float(line.split()[-1])))
    return buckets


def quantiles(before: Buckets, after: Buckets, name: str) -> str:
    """p50 and p99 of the events between two scrapes, interpolated within their bucket as
    Prometheus' histogram_quantile does, with the bucket's bounds."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after[name], before[name], strict=True)]
    total = counts[-1][1] if counts else 0
    marks = []
    for p in (0.5, 0.99):
        lower, below = 0.0, 0.0
        for le, count in counts:
            if total and count >= p * total:
                within = (p * total - below) / max(count - below, 1e-9)
                estimate = lower + (min(le, 60.0) - lower) * within
                marks.append(
                    f"p{int(p * 100)} ~{estimate * 1000:.1f} ms (in {lower * 1000:g}-{le * 1000:g})"
                )
                break
            lower, below = le, count
    return ", ".join(marks) + f" ({total:.0f} events)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", default="1,20")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="livedesk api --workers N")
    parser.add_argument(
        "--paced-rate", type=float, help="writes/s of the latency run (default: half the max)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for accounts in (int(a) for a in args.accounts.split(",")):
            with postgres_database(LOOPBACK_DATABASE_URL) as database_url:
                asyncio.run(
                    scenario(
                        database_url,
                        accounts,
                        args.seconds,
                        args.connections,
                        args.workers,
                        Path(tmp),
                        args.paced_rate,
                    )
                )


if __name__ == "__main__":
    main()
