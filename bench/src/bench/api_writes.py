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
Prints figures; asserts nothing. Everything runs on 127.0.0.1 and stops by itself; the API's
log goes under bench/results/. The setup (database, accounts) is `bench.fanout.livedesk_setup`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import httpx

from bench.fanout.livedesk_setup import (
    Database,
    create_accounts,
    default_amqp_url,
    default_postgres_url,
    fresh_database,
    migrate,
    prepare_account,
    service_env,
    start_service,
)
from bench.fanout.procs import RESULTS, ProcessGroup, cpu_seconds, free_port
from livedesk.shared import routing
from livedesk.shared.events import NewMessage, decode_persistent
from livedesk.shared.topology import EVENTS


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


def cpu_of(pids: list[int]) -> float:
    """CPU seconds of those of the processes still there (a PostgreSQL backend may close)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc: Linux only."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [p for child in children for p in process_tree(int(child))]


async def query(database: Database, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database.dsn)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


async def backend_pids(database: Database) -> list[int]:
    """PostgreSQL's server processes serving this benchmark's database."""
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    return [row[0] for row in await query(database, sql)]


Arrival = tuple[float, bytes]  # wall clock at arrival, the event as published


@contextlib.asynccontextmanager
async def arrivals(amqp_url: str, account_ids: Iterable[int]) -> AsyncIterator[list[Arrival]]:
    """Every event of these accounts as a broker consumer gets it, in order of arrival.

    No acks and no decoding on arrival: what is timed is the broker's delivery, not this
    consumer's work.
    """
    arrived: list[Arrival] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        arrived.append((time.time(), message.body))

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        for account_id in account_ids:
            await queue.bind(EVENTS, routing.account_pattern(account_id))
        await queue.consume(on_message, no_ack=True)
        yield arrived


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
    api_pids: list[int], database: Database, run: Awaitable[tuple[int, int, float]]
) -> tuple[int, int, float, Usage]:
    pg_pids = await backend_pids(database)
    api0, pg0 = cpu_of(api_pids), cpu_of(pg_pids)
    ok, errors, took = await run
    api1, pg1 = cpu_of(api_pids), cpu_of(pg_pids)
    usage = Usage(ok, took, api1 - api0, pg1 - pg0, os.getloadavg())
    return ok, errors, took, usage


async def scenario(
    group: ProcessGroup, database: Database, args: argparse.Namespace, accounts: int, tmp: Path
) -> None:
    seconds, connections, workers = args.seconds, args.connections, args.workers
    env = service_env(database, args.amqp_url, tmp)
    await migrate(group, env)
    emails = [f"admin-{n}@bench.example" for n in range(accounts)]
    account_ids = await create_accounts(database, emails)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra = ("--workers", str(workers)) if workers > 1 else ()
    api = await start_service(group, "api", port, env, *extra)
    try:
        if workers > 1:
            await asyncio.sleep(3.0)  # the supervisor listens at once: let the workers start
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ready = [
                await prepare_account(client, *pair)
                for pair in zip(account_ids, emails, strict=True)
            ]
        targets = [
            (f"/v1/conversations/{a.conversation_id}/messages", a.token or "") for a in ready
        ]
        await drive(port, targets, 1.0, connections)  # warm up
        # Every process of the API: the supervisor's workers, each one's relay process.
        pids = process_tree(api.pid)
        await drained(database)
        published = await published_events(database)
        ok, errors, took, usage = await measured(
            pids, database, drive(port, targets, seconds, connections)
        )
        max_rate = ok / took
        # The relay must keep up too: how long the backlog left by the run takes to go.
        drain_s = await drained(database)
        relayed = await published_events(database) - published
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
            before = relay_buckets((await client.get(url + "/metrics")).text)
        async with arrivals(args.amqp_url, account_ids) as arrived:
            await asyncio.sleep(0.5)
            seen = len(arrived)
            answered: list[float] = []
            answered_at: dict[int, float] = {}
            rate = args.paced_rate or max_rate / 2
            ok, errors, took, usage = await measured(
                pids,
                database,
                drive(port, targets, seconds, connections, rate, answered, answered_at),
            )
            await asyncio.sleep(1.0)
            events = [(at, decode_persistent(body)) for at, body in arrived[seen:]]
        latencies = sorted((at - event.ts.timestamp()) * 1000 for at, event in events)
        # From the answer, which the API sends after the commit: the event's `ts` is
        # taken before the writing statement, so the write's own time is in `latencies`.
        after_answer = sorted(
            (at - answered_at[event.data.id]) * 1000
            for at, event in events
            if isinstance(event, NewMessage) and event.data.id in answered_at
        )
        async with httpx.AsyncClient() as client:
            after = relay_buckets((await client.get(url + "/metrics")).text)
    finally:
        await group.stop(api)
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


async def outbox(database: Database, sql: str) -> int:
    return int((await query(database, sql))[0][0] or 0)


async def published_events(database: Database) -> int:
    """Events the relays (of every worker) have had confirmed, from the database."""
    return await outbox(database, "SELECT sum(published_offset) FROM event_relay")


async def drained(database: Database, timeout_s: float = 120.0) -> float:
    """Wait until the outbox backlog is empty; how long that took."""
    backlog = (
        "SELECT sum(o.last_offset - r.published_offset) FROM account_offsets o "
        "JOIN event_relay r ON r.account_id = o.account_id"
    )
    started = time.monotonic()
    while await outbox(database, backlog) > 0:
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


async def run(args: argparse.Namespace) -> None:
    logs = RESULTS / f"logs-api-writes-{time.strftime('%Y%m%d-%H%M%S')}"
    async with ProcessGroup(logs) as group:
        for accounts in (int(a) for a in args.accounts.split(",")):
            async with fresh_database(args.postgres_url) as database:
                with tempfile.TemporaryDirectory() as tmp:
                    await scenario(group, database, args, accounts, Path(tmp))
    print(f"process logs: {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", default="1,20")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="livedesk api --workers N")
    parser.add_argument(
        "--paced-rate", type=float, help="writes/s of the latency run (default: half the max)"
    )
    parser.add_argument("--amqp-url", default=default_amqp_url())
    parser.add_argument("--postgres-url", default=default_postgres_url())
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
