"""Message writes per second through the REST API, with PostgreSQL, the outbox and the relay.

    .venv/bin/python -m bench.api_writes [--accounts 1,20] [--seconds 8] [--connections 32]

For each account count: a fresh database, one `livedesk api` process on a loopback port,
and a lean keep-alive HTTP/1.1 client (hand-built requests, so the load generator costs
little next to the server) that posts messages round-robin over the accounts'
conversations as fast as answers come back: that is the max rate. Then a paced run at half
that rate, with a broker consumer timing each event from its `ts` (set in the writing
transaction) to its arrival: commit-to-delivery, an upper bound on commit-to-confirm.
Prints figures; asserts nothing. Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

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

    async def post(self, path: str, token: str, body: bytes) -> int:
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
        await self._reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self._writer.close()


async def drive(
    port: int,
    targets: list[tuple[str, str]],
    seconds: float,
    connections: int,
    rate: float | None = None,
) -> tuple[int, int, float]:
    """Post for `seconds`; paced at `rate` per second overall when given. (ok, errors, s)."""
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
                status = await connection.post(path, token, body)
                if status == 201:
                    ok += 1
                else:
                    errors += 1
                n += connections
        finally:
            connection.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    return ok, errors, time.monotonic() - started


async def scenario(
    database_url: str, accounts: int, seconds: float, connections: int, tmp: Path
) -> None:
    if True:
        account_ids = await prepare_database(database_url, accounts)
        env = livedesk_env(
            {
                "LIVEDESK_DATABASE_URL": database_url,
                "LIVEDESK_AMQP_URL": LOOPBACK_AMQP_URL,
                "LIVEDESK_DATA_DIR": str(tmp),
            }
        )
        with ApiProcess(env) as api:
            targets = []
            async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
                for n, account_id in enumerate(account_ids):
                    tenant = await make_tenant(client, admin_email(n), account_id, 0)
                    conversation = await open_conversation(client, tenant)
                    path = f"/v1/conversations/{conversation}/messages"
                    targets.append((path, tenant.token))
            await drive(api.port, targets, 1.0, connections)  # warm up
            ok, errors, took = await drive(api.port, targets, seconds, connections)
            max_rate = ok / took
            print(
                f"accounts={accounts} connections={connections}: max {max_rate:.0f} writes/s "
                f"({ok} in {took:.1f} s, {errors} errors)"
            )
            # Latency at half the max rate, timed by a consumer of the first account's
            # events (every account gets the same share of the load).
            async with collect_events(LOOPBACK_AMQP_URL, account_ids[0]) as collector:
                await asyncio.sleep(0.5)
                before = len(collector.received)
                ok, errors, took = await drive(
                    api.port, targets, seconds, connections, rate=max_rate / 2
                )
                await asyncio.sleep(1.0)
                latencies = sorted(
                    (at - event.ts.timestamp()) * 1000
                    for at, event in zip(
                        collector.arrived_at[before:], collector.received[before:], strict=True
                    )
                )
            print(
                f"  at {ok / took:.0f} writes/s (half, {errors} errors): commit-to-delivery of "
                f"{len(latencies)} events of one account: p50 {pct(latencies, 50):.1f} ms, "
                f"p99 {pct(latencies, 99):.1f} ms, max {max(latencies, default=0):.1f} ms"
            )
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(api.url + "/metrics")).text
            print("  relay histogram (ts to confirm, all accounts):", histogram_summary(metrics))


def pct(values: list[float], p: float) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def histogram_summary(metrics: str) -> str:
    buckets = []
    for line in metrics.splitlines():
        if line.startswith("livedesk_outbox_commit_to_publish_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((le, float(line.split()[-1])))
    total = buckets[-1][1] if buckets else 0
    marks = []
    for p in (0.5, 0.99):
        for le, count in buckets:
            if total and count >= p * total:
                marks.append(f"p{int(p * 100)} <= {float(le) * 1000:g} ms")
                break
    return ", ".join(marks) + f" ({total:.0f} events)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", default="1,20")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for accounts in (int(a) for a in args.accounts.split(",")):
            with postgres_database(LOOPBACK_DATABASE_URL) as database_url:
                asyncio.run(
                    scenario(database_url, accounts, args.seconds, args.connections, Path(tmp))
                )


if __name__ == "__main__":
    main()
