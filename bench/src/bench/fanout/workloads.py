"""The six workloads, each a function of one `Target`, returning a plain dict of figures.

Every workload starts its own load generator workers and publisher, so one workload's sockets
and buffers never count in the next; server nodes live for the whole run of a target (idle
memory runs first, on nodes that have served nothing yet). A measurement `window` resets the
load generator's counters, reads the nodes' CPU, publishes at a fixed rate, waits until every
client has everything the publisher reports (or nothing moves for `settle_s`), and reads CPU
again, so CPU covers exactly the work of delivering that window.
Deliberately not here: printing (report) and process lifetimes (procs, targets).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from bench.fanout.loadgen import TTL_PHASES
from bench.fanout.procs import (
    ProcessGroup,
    cpu_seconds,
    cpu_share,
    load_average,
    rss_bytes,
    tcp_send_queue,
)
from bench.fanout.rpc import Worker
from bench.fanout.stats import Histogram, above_idle, neighbour_shift, ratio, spread
from bench.fanout.targets import Account, Target, client_specs

P99_LIMIT_S: Final = 0.250
MIN_PUBLISH_FRACTION: Final = 0.9  # below this the publisher, not the server, set the pace
# The storm's pause between its sockets connecting and its counters being read.
UNBIND_SETTLE_S: Final = 3.0
# How long `settle` waits for the nodes to let go of the previous workload's accounts.
SETTLE_TIMEOUT_S: Final = 180.0
BOUND_ACCOUNTS: Final = "livedesk_gateway_bound_accounts"
# The slow reader's kinds of window: nothing stalled, the slow reader stalled, and a control
# run exactly like a stall window but with nothing stalled.
BASELINE: Final = "baseline"
STALL: Final = "stall"
CONTROL: Final = "control"


@dataclass(frozen=True)
class Sizes:
    """Counts and durations; `--quick` shrinks every one of them."""

    broadcast_sockets: int = 1000
    broadcast_rate: float = 20.0
    window_s: float = 20.0
    sparse_sockets: int = 2000
    sparse_rate: float = 200.0
    idle_sockets: int = 10_000
    idle_accounts: int = 2000
    saturation_rates: tuple[float, ...] = (10, 20, 40, 60, 80, 120, 160, 240, 320)
    saturation_window_s: float = 10.0
    storm_sockets: int = 5000
    storm_accounts: int = 500
    storm_window_s: float = 10.0
    storm_rate: float = 50.0
    slow_sockets: int = 1000
    slow_rate: float = 20.0
    # The stall a full run can afford. The gateway closes a stalled socket (4409) once its
    # oldest unsent frame has waited send_queue_max_lag_s (5 s), which starts only when the
    # kernel's buffers (the client's receive buffer, what the node's kernel may hold unsent:
    # ~40 KB) are full: evicted ~12 s into the stall at 20 events/s (23 s before the node
    # bounded its unsent bytes). Its close frame waits behind what it has not read, so
    # unless it reads within the close timeout it sees 1006, not 4409. Every window of the
    # workload (baselines and controls too) lasts this long, so that all compare like with
    # like; longer would dilute the stall's seconds before eviction with normal ones.
    slow_stall_s: float = 20.0
    # Stall windows, and as many no-stall controls, each between two baselines.
    slow_rounds: int = 2
    # How long a stalled reader that reads again may take to be live and caught up.
    slow_recover_s: float = 30.0
    loadgen_workers: int = 2
    settle_s: float = 3.0
    # Seconds with the sockets held and nothing published, before broadcast's and sparse's
    # window and in idle: the nodes' fixed cost (pings, sweeps, heartbeats), and the cost per
    # event above it. 0: not measured.
    idle_window_s: float = 0.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            broadcast_sockets=200,
            broadcast_rate=20.0,
            window_s=2.0,
            sparse_sockets=50,
            sparse_rate=50.0,
            idle_sockets=500,
            idle_accounts=20,
            saturation_rates=(20, 100),
            saturation_window_s=3.0,
            storm_sockets=200,
            storm_accounts=20,
            storm_window_s=2.0,
            storm_rate=20.0,
            slow_sockets=50,
            slow_rate=50.0,
            slow_stall_s=6.0,
            slow_rounds=1,
            settle_s=1.5,
        )


@dataclass
class Bench:
    target: Target
    group: ProcessGroup
    sizes: Sizes
    livedesk_mode: str  # "rest" or "bus": how Livedesk events are published
    saturation_mode: str


class Load:
    """The load generator's worker processes, addressed as one."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @classmethod
    async def start(
        cls, bench: Bench, specs: list[dict[str, Any]], timeout_s: float = 300.0
    ) -> tuple[Load, dict[str, Any]]:
        count = max(1, min(bench.sizes.loadgen_workers, len(specs)))
        workers = []
        for index in range(count):
            process = await bench.group.start(
                f"loadgen-{bench.target.name}-{index}",
                [sys.executable, "-m", "bench.fanout.loadgen"],
                pipes=True,
            )
            workers.append(Worker(f"loadgen-{index}", process))
        load = cls(workers)
        # Each worker takes a share of every node's clients, so that a worker's scheduling
        # delays reach every node's figures alike (dealt in spec order, a broadcast's
        # worker held one node's clients).
        ordered = sorted(specs, key=lambda spec: str(spec["url"]))
        shares = [ordered[index::count] for index in range(count)]
        replies = await load.each(
            "connect",
            [
                {"protocol": bench.target.protocol, "clients": share, "timeout_s": timeout_s}
                for share in shares
            ],
        )
        return load, {
            "live": sum(r["live"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "seconds": max(r["seconds"] for r in replies),
            "errors": _merge_counts(r["errors"] for r in replies),
        }

    async def each(self, op: str, args: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                *(worker.call(op, **arg) for worker, arg in zip(self.workers, args, strict=True))
            )
        )

    async def all(self, op: str, **args: Any) -> list[dict[str, Any]]:
        return await self.each(op, [args] * len(self.workers))

    async def stats(self, expected: dict[str, int]) -> dict[str, Any]:
        replies = await self.all("stats", expected=expected)
        by_node: dict[str, Histogram] = {}
        for reply in replies:
            for node, part in reply["latency"].items():
                by_node.setdefault(node, Histogram()).merge(Histogram.from_json(part))
        latency = Histogram.merged(by_node.values())
        ttl = Histogram.merged(Histogram.from_json(r["time_to_live"]) for r in replies)
        phases = {
            phase: Histogram.merged(Histogram.from_json(r["ttl_phases"][phase]) for r in replies)
            for phase in TTL_PHASES
        }
        return {
            "live": sum(r["live"] for r in replies),
            "deliveries": sum(r["deliveries"] for r in replies),
            "latency": latency,
            "latency_by_node": by_node,
            "time_to_live": ttl,
            "ttl_phases": phases,
            "loss": sum(r["loss"] for r in replies),
            "clients_with_loss": sum(r["clients_with_loss"] for r in replies),
            "duplicates": sum(r["duplicates"] for r in replies),
            "closes": _merge_counts(r["closes"] for r in replies),
            "errors": _merge_counts(r["errors"] for r in replies),
            "slow": [s for r in replies for s in r["slow"]],
        }

    def cpu(self) -> float:
        return sum(cpu_seconds(w.process.pid) for w in self.workers)

    async def close(self, group: ProcessGroup) -> None:
        for worker in self.workers:
            try:
                await worker.call("close", timeout_s=30)
            except Exception as error:  # it is being stopped either way
                print(f"  ({worker.name} close: {error})", file=sys.stderr)
            await group.stop(worker.process)


class Publisher:
    def __init__(self, worker: Worker, mode: str) -> None:
        self.worker, self.mode = worker, mode

    @classmethod
    async def start(cls, bench: Bench, accounts: list[Account], mode: str) -> Publisher:
        process = await bench.group.start(
            f"publisher-{bench.target.name}",
            [sys.executable, "-m", "bench.fanout.publisher"],
            pipes=True,
        )
        worker = Worker("publisher", process)
        await worker.call("init", **bench.target.publisher_init(mode, accounts))
        return cls(worker, mode)

    async def publish(self, **args: Any) -> dict[str, Any]:
        return await self.worker.call("publish", **args)

    async def expected(self, published: dict[str, Any]) -> dict[str, int]:
        """Each account's last seq/offset: as published, or as the API's replay reports."""
        if self.mode == "rest":
            reply = await self.worker.call("latest", accounts=list(published["last"]))
            return {k: int(v) for k, v in reply["last"].items()}
        return {k: int(v) for k, v in published["last"].items()}

    async def close(self, group: ProcessGroup) -> None:
        try:
            await self.worker.call("close", timeout_s=30)
        finally:
            await group.stop(self.worker.process)


def _merge_counts(parts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def node_cpu(bench: Bench) -> float:
    return sum(cpu_seconds(node.process.pid) for node in bench.target.nodes())


def _each_node_cpu(bench: Bench) -> list[float]:
    return [cpu_seconds(node.process.pid) for node in bench.target.nodes()]


async def idle_node_cpu(bench: Bench) -> float | None:
    """The nodes' fixed cost over `idle_window_s` (None when that is 0): see `cpu_share`."""
    if not bench.sizes.idle_window_s:
        return None
    pids = [node.process.pid for node in bench.target.nodes()]
    return await cpu_share(pids, bench.sizes.idle_window_s)


def node_rss(bench: Bench) -> int:
    return sum(rss_bytes(node.process.pid) for node in bench.target.nodes())


def helper_cpu(bench: Bench) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in bench.target.helper_pids().items()}


async def drain(load: Load, expected: dict[str, int], settle_s: float) -> dict[str, Any]:
    """Stats once nothing is missing, or once deliveries stopped moving for `settle_s`."""
    last_count, last_move = -1, time.monotonic()
    while True:
        stats = await load.stats(expected)
        now = time.monotonic()
        if stats["deliveries"] != last_count:
            last_count, last_move = stats["deliveries"], now
            stats["last_progress"] = now
        if stats["loss"] == 0 or now - last_move >= settle_s:
            stats["last_progress"] = last_move
            return stats
        await asyncio.sleep(0.25)


async def window(
    bench: Bench,
    load: Load,
    publisher: Publisher,
    rate: float,
    duration_s: float,
    accounts: list[Account],
    *,
    random_accounts: bool = False,
) -> dict[str, Any]:
    result, _expected = await _window(
        bench, load, publisher, rate, duration_s, accounts, random_accounts=random_accounts
    )
    return result


async def _window(
    bench: Bench,
    load: Load,
    publisher: Publisher,
    rate: float,
    duration_s: float,
    accounts: list[Account],
    *,
    random_accounts: bool = False,
) -> tuple[dict[str, Any], dict[str, int]]:
    """`window`, and each account's last offset the clients should have (`expected`)."""
    await load.all("reset")
    before_load = load_average()
    cpu0, lg0, helpers0 = node_cpu(bench), load.cpu(), helper_cpu(bench)
    each0 = _each_node_cpu(bench)
    started = time.monotonic()
    published = await publisher.publish(
        rate=rate,
        duration_s=duration_s,
        accounts=[a.id for a in accounts],
        random=random_accounts,
    )
    expected = await publisher.expected(published)
    stats = await drain(load, expected, bench.sizes.settle_s)
    cpu = node_cpu(bench) - cpu0
    each = [after - before for before, after in zip(each0, _each_node_cpu(bench), strict=True)]
    helpers = {k: v - helpers0.get(k, 0.0) for k, v in helper_cpu(bench).items()}
    elapsed = max(published["seconds"], stats["last_progress"] - started)
    summary = summarize(stats, published, cpu, load.cpu() - lg0, helpers, elapsed, before_load)
    # The same window seen through each node's clients: what the machine does to latency
    # it does to both, so a difference between nodes is the nodes' own.
    by_node: dict[str, Histogram] = stats["latency_by_node"]
    summary["p99_ms_by_node"] = [
        _ms(by_node[node.url].percentile(0.99)) if node.url in by_node else None
        for node in bench.target.nodes()
    ]
    # CPU time hardly depends on what else runs: work a node does beyond the other shows.
    summary["node_cpu_s_by_node"] = each
    return summary, expected


def summarize(
    stats: dict[str, Any],
    published: dict[str, Any],
    cpu: float,
    loadgen_cpu: float,
    helpers: dict[str, float],
    elapsed: float,
    before_load: tuple[float, float, float],
) -> dict[str, Any]:
    return {
        "publish_mode": published["mode"],
        "asked_rate": published["asked_rate"],
        "published": published["published"],
        "publish_failures": published["failures"],
        "achieved_rate": published["achieved_rate"],
        "publisher_limited": published["achieved_rate"]
        < MIN_PUBLISH_FRACTION * published["asked_rate"],
        **delivery_figures(stats["latency"], stats["deliveries"], cpu, elapsed),
        "loss": stats["loss"],
        "clients_with_loss": stats["clients_with_loss"],
        "duplicates": stats["duplicates"],
        "loadgen_cpu_s": loadgen_cpu,
        "helper_cpu_s": helpers,
        "live": stats["live"],
        "closes": stats["closes"],
        "errors": stats["errors"],
        "load_avg_before": before_load,
        "load_avg_after": load_average(),
    }


def delivery_figures(
    latency: Histogram, deliveries: int, cpu: float, elapsed: float
) -> dict[str, Any]:
    """What deliveries, their latencies, the nodes' CPU and the time they took come to: of a
    window, or of several pooled."""
    return {
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / elapsed if elapsed else 0.0,
        "elapsed_s": elapsed,
        "p50_ms": _ms(latency.percentile(0.50)),
        "p99_ms": _ms(latency.percentile(0.99)),
        "p999_ms": _ms(latency.percentile(0.999)),
        "max_ms": _ms(latency.percentile(1.0)),
        # The whole histogram, so that windows can be pooled (interleaved) or read again.
        "latency_buckets": latency.to_json(),
        "node_cpu_s": cpu,
        "cpu_s_per_100k": cpu / deliveries * 100_000 if deliveries else None,
        "deliveries_per_cpu_s": deliveries / cpu if cpu else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def sustained(result: dict[str, Any]) -> bool:
    p99 = result["p99_ms"]
    return (
        p99 is not None
        and p99 <= P99_LIMIT_S * 1000
        and result["loss"] == 0
        and not result["publisher_limited"]
        and result["publish_failures"] == 0
    )


async def _publish_accounts(bench: Bench, mode: str, pool: int) -> list[Account]:
    if mode == "bus":
        return await bench.target.bus_accounts(1)
    return await bench.target.accounts(pool)


async def settle(bench: Bench) -> float:
    """Wait until no node has an account bound: what the previous workload left is gone.

    A gateway unbinds an account a grace period after its last socket left, one broker
    round trip each; idle's 2,000 accounts were still unbinding in the next windows and
    cost them seconds of node CPU. A target that reports no bindings (the peer) is settled.
    Returns the seconds waited.
    """
    started = time.monotonic()
    while (await bench.target.counters()).extra.get(BOUND_ACCOUNTS, 0.0) > 0:
        if time.monotonic() - started > SETTLE_TIMEOUT_S:
            raise TimeoutError(f"nodes still hold accounts after {SETTLE_TIMEOUT_S} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


# -- the workloads ----------------------------------------------------------------------


async def idle(bench: Bench) -> dict[str, Any]:
    sizes = bench.sizes
    accounts = await bench.target.accounts(min(sizes.idle_accounts, sizes.idle_sockets))
    await asyncio.sleep(1.0)
    rss0 = node_rss(bench)
    load, connected = await Load.start(bench, client_specs(bench.target, accounts,
                                                           sizes.idle_sockets))  # fmt: skip
    try:
        await asyncio.sleep(3.0)  # let handshakes' garbage go and heartbeats start
        rss1 = node_rss(bench)
        fixed = await idle_node_cpu(bench)
        live = connected["live"]
        return {
            "sockets": sizes.idle_sockets,
            "accounts": len(accounts),
            "live": live,
            "connect_s": connected["seconds"],
            "errors": connected["errors"],
            "rss_before": rss0,
            "rss_after": rss1,
            "bytes_per_socket": (rss1 - rss0) / live if live else None,
            "idle_node_cpu_share": fixed,
        }
    finally:
        await load.close(bench.group)


@dataclass(frozen=True)
class FanoutPlan:
    """What broadcast or sparse asks of one target: its accounts, sockets and rate."""

    mode: str
    accounts: list[Account]
    sockets: int
    rate: float
    random_accounts: bool


async def fanout_plan(bench: Bench, workload: str) -> FanoutPlan:
    """broadcast: one account, events to it; sparse: an account per socket, events to random
    accounts."""
    sizes = bench.sizes
    mode = bench.target.publish_mode(bench.livedesk_mode)
    if workload == "broadcast":
        accounts = await _publish_accounts(bench, mode, 1)
        return FanoutPlan(mode, accounts, sizes.broadcast_sockets, sizes.broadcast_rate, False)
    if workload != "sparse":
        raise ValueError(f"not a fan-out workload: {workload!r}")
    if mode == "bus":
        accounts = await bench.target.bus_accounts(sizes.sparse_sockets)
    else:
        accounts = await bench.target.accounts(sizes.sparse_sockets)
    return FanoutPlan(mode, accounts, sizes.sparse_sockets, sizes.sparse_rate, True)


@dataclass
class FanoutArm:
    """One target's sockets and publisher for a fan-out plan, warmed up, until closed."""

    bench: Bench
    plan: FanoutPlan
    load: Load
    publisher: Publisher
    connected: dict[str, Any]
    foreign_before: float | None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, bench: Bench, plan: FanoutPlan) -> AsyncIterator[FanoutArm]:
        foreign_before = (await bench.target.counters()).foreign_messages
        specs = client_specs(bench.target, plan.accounts, plan.sockets)
        load, connected = await Load.start(bench, specs)
        try:
            publisher = await Publisher.start(bench, plan.accounts, plan.mode)
            try:
                arm = cls(bench, plan, load, publisher, connected, foreign_before)
                # Warm-up: first events pay for lazy imports, caches, the first bindings.
                await arm.window(1.0)
                yield arm
            finally:
                await publisher.close(bench.group)
        finally:
            await load.close(bench.group)

    async def window(self, duration_s: float) -> dict[str, Any]:
        plan = self.plan
        return await window(
            self.bench, self.load, self.publisher, plan.rate, duration_s, plan.accounts,
            random_accounts=plan.random_accounts,
        )  # fmt: skip

    async def foreign_messages(self) -> float | None:
        """Events nodes received for accounts they hold no socket of, since the arm started."""
        after = (await self.bench.target.counters()).foreign_messages
        return _delta(self.foreign_before, after)

    def describe(self) -> dict[str, Any]:
        return {
            "sockets": self.plan.sockets,
            "accounts": len(self.plan.accounts),
            "connected": self.connected,
        }


async def broadcast(bench: Bench) -> dict[str, Any]:
    return await _fanout(bench, await fanout_plan(bench, "broadcast"))


async def sparse(bench: Bench) -> dict[str, Any]:
    return await _fanout(bench, await fanout_plan(bench, "sparse"))


async def _fanout(bench: Bench, plan: FanoutPlan) -> dict[str, Any]:
    async with FanoutArm.running(bench, plan) as arm:
        fixed = await idle_node_cpu(bench)
        result = await arm.window(bench.sizes.window_s)
    return {
        **arm.describe(),
        "foreign_messages": await arm.foreign_messages(),
        **result,
        **above_idle(fixed, result),
    }


async def saturation(bench: Bench) -> dict[str, Any]:
    sizes = bench.sizes
    mode = bench.target.publish_mode(bench.saturation_mode)
    accounts = await _publish_accounts(bench, mode, 1)
    specs = client_specs(bench.target, accounts, sizes.broadcast_sockets)
    load, connected = await Load.start(bench, specs)
    publisher = await Publisher.start(bench, accounts, mode)
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    try:
        await window(bench, load, publisher, sizes.saturation_rates[0], 1.0, accounts)
        for rate in sizes.saturation_rates:
            step = await window(bench, load, publisher, rate, sizes.saturation_window_s, accounts)
            step["sustained"] = sustained(step)
            steps.append(step)
            if not step["sustained"]:
                break
            best = step
    finally:
        await publisher.close(bench.group)
        await load.close(bench.group)
    stopped_by = None
    if steps and not steps[-1]["sustained"]:
        last = steps[-1]
        stopped_by = "publisher" if last["publisher_limited"] else (
            "loss" if last["loss"] else "p99")  # fmt: skip
    return {
        "sockets": sizes.broadcast_sockets,
        "publish_mode": mode,
        "connected": connected,
        "steps": steps,
        "highest_sustained_rate": best["asked_rate"] if best else None,
        "deliveries_per_s_at_highest": best["deliveries_per_s"] if best else None,
        "stopped_by": stopped_by,
    }


async def slow_reader(bench: Bench) -> dict[str, Any]:
    """One socket stops reading while the others receive, in alternation with baselines.

    Windows run baseline, stall, baseline, control, baseline, ... (`slow_rounds` of each of
    stall and control), all `slow_stall_s` long. Each stall and each control (a window with
    nothing stalled) is compared with the baselines on either side of it: a machine shared
    with other work drifts by more than the effect sought, and the control's shift and the
    baselines' spread show how much. After a stall the slow reader reads again and, if the
    server closed it, resumes, and the next window waits until it has caught up.
    """
    sizes = bench.sizes
    mode = bench.target.publish_mode(bench.livedesk_mode)
    accounts = await _publish_accounts(bench, mode, 1)
    specs = client_specs(bench.target, accounts, sizes.slow_sockets, slow=1)
    load, connected = await Load.start(bench, specs)
    publisher = await Publisher.start(bench, accounts, mode)
    watch = StallWatch(bench)
    plan = [BASELINE]
    for _ in range(sizes.slow_rounds):
        plan += [STALL, BASELINE, CONTROL, BASELINE]
    windows: list[dict[str, Any]] = []
    stalls: list[dict[str, Any]] = []
    try:
        await window(bench, load, publisher, sizes.slow_rate, 1.0, accounts)
        async with watch.running():
            for kind in plan:
                if kind == STALL:
                    result, stall = await _stalled_window(bench, load, publisher, accounts, watch)
                    stalls.append(stall)
                else:
                    result = await window(
                        bench, load, publisher, sizes.slow_rate, sizes.slow_stall_s, accounts
                    )
                windows.append({"kind": kind, **result})
    finally:
        await publisher.close(bench.group)
        await load.close(bench.group)
    for result in windows:
        # The slow reader's node over the other, same window: the machine's drift cancels.
        result["node_ratio"] = ratio(*result["p99_ms_by_node"][:2])
        result["node_cpu_ratio"] = ratio(*result["node_cpu_s_by_node"][:2])
    shifts = _shifts(windows, "p99_ms")
    baselines = [w["p99_ms"] for w in windows if w["kind"] == BASELINE]
    return {
        "sockets": sizes.slow_sockets,
        "connected": connected,
        "window_s": sizes.slow_stall_s,
        "rounds": sizes.slow_rounds,
        "windows": windows,
        "stalls": stalls,
        "baseline_p99_ms": baselines,
        "baseline_spread": spread(baselines),
        "stall_shifts": shifts[STALL],
        "control_shifts": shifts[CONTROL],
        "p99_shift": _mean(shifts[STALL]),
        "control_shift": _mean(shifts[CONTROL]),
        **_compared(windows, "node_ratio"),
        **_compared(windows, "node_cpu_ratio"),
        "others_loss": sum(w["loss"] for w in windows),
    }


def _compared(windows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The baselines' spread of `key`, and each stall's and control's shift of it."""
    shifts = _shifts(windows, key)
    return {
        f"baseline_{key}_spread": spread(w[key] for w in windows if w["kind"] == BASELINE),
        f"stall_{key}_shifts": shifts[STALL],
        f"control_{key}_shifts": shifts[CONTROL],
        f"{key}_shift": _mean(shifts[STALL]),
        f"control_{key}_shift": _mean(shifts[CONTROL]),
    }


def _shifts(windows: list[dict[str, Any]], key: str) -> dict[str, list[float | None]]:
    """Each stall's and control's `key` against the baselines either side of it."""
    shifts: dict[str, list[float | None]] = {STALL: [], CONTROL: []}
    for index, treated in enumerate(windows):
        if treated["kind"] != BASELINE:
            after = windows[index + 1][key] if index + 1 < len(windows) else None
            before = windows[index - 1][key]
            shifts[treated["kind"]].append(neighbour_shift(before, treated[key], after))
    return shifts


async def _stalled_window(
    bench: Bench, load: Load, publisher: Publisher, accounts: list[Account], watch: StallWatch
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A window with the slow reader stalled, then its recovery (outside the window)."""
    sizes = bench.sizes
    slow_node = bench.target.nodes()[0].process.pid
    before = (await load.stats({}))["slow"][0]
    counters0 = await bench.target.counters()
    rss0 = rss_bytes(slow_node)
    watch.follow(before["local_port"])
    stall = await load.all("stall", on=True)
    stalled_at = min(reply["now"] for reply in stall)
    result, expected = await _window(
        bench, load, publisher, sizes.slow_rate, sizes.slow_stall_s, accounts
    )
    rss1 = rss_bytes(slow_node)
    during = (await load.stats({}))["slow"][0]
    counters1 = await bench.target.counters()
    kernel_max = watch.follow(0)
    evicted = next((t for t in watch.evictions if t >= stalled_at), None)
    unstalled = time.monotonic()
    await load.all("stall", on=False, resume=True)
    after, recovered = await _recover(load, expected, sizes.slow_recover_s)
    resumed = after["reconnects"] > before["reconnects"]
    return result, {
        "eviction_s": evicted - stalled_at if evicted is not None else None,
        "too_slow_closes": _delta(counters0.too_slow_closes, counters1.too_slow_closes),
        # As the stalled client saw it once it read again (None: it was not closed).
        "slow_close_code": after["close_code"] if resumed else None,
        "slow_node_rss_growth": rss1 - rss0,
        "slow_read_while_stalled": during["received"],
        "slow_published_while_stalled": result["published"],
        # What the node's kernel held for the stalled socket at most: the gateway's bounds
        # count only its own (user-space) buffer, so this much is absorbed before they act.
        "kernel_send_queue_max_bytes": kernel_max,
        "recovered_s": recovered - unstalled if recovered is not None else None,
        "slow_missing": after["missing"],
        "slow_duplicates": after["duplicates"],
    }


async def _recover(
    load: Load, expected: dict[str, int], timeout_s: float
) -> tuple[dict[str, Any], float | None]:
    """The slow reader's stats once it is live with nothing missing (and when), or at timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        slow = (await load.stats(expected))["slow"][0]
        now = time.monotonic()
        if slow["live"] and slow["missing"] == 0:
            return slow, now
        if now >= deadline:
            return slow, None
        await asyncio.sleep(0.25)


class StallWatch:
    """Polls, through every window of the workload alike (a scrape costs the nodes a little):
    the nodes' 4409 counter (the peer has none), and the kernel send queue of the socket
    followed, on node 0."""

    def __init__(self, bench: Bench, interval_s: float = 0.2) -> None:
        self._bench, self._interval_s = bench, interval_s
        self.evictions: list[float] = []  # time.monotonic() of each rise of the counter
        self._port = 0
        self._queue_max = 0

    def follow(self, port: int) -> int:
        """Follow the client socket with local `port` (0: none); the previous one's maximum."""
        queue_max, self._port, self._queue_max = self._queue_max, port, 0
        return queue_max

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._run())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        target = self._bench.target
        node_port = target.nodes()[0].port
        closes: float | None = None
        while True:
            try:
                counters = await target.counters()
            except Exception as error:  # a scrape lost to a busy node: try the next one
                print(f"  (metrics scrape failed: {error!r})", file=sys.stderr)
            else:
                now, seen = time.monotonic(), counters.too_slow_closes
                if seen is not None and closes is not None and seen > closes:
                    self.evictions.append(now)
                closes = seen if seen is not None else closes
            if self._port and (queued := tcp_send_queue(node_port, self._port)) is not None:
                self._queue_max = max(self._queue_max, queued)
            await asyncio.sleep(self._interval_s)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def storm(bench: Bench) -> dict[str, Any]:
    sizes = bench.sizes
    # Resume needs replay from the API, so Livedesk always publishes over REST here.
    mode = bench.target.publish_mode("rest")
    accounts = await bench.target.accounts(sizes.storm_accounts)
    specs = client_specs(bench.target, accounts, sizes.storm_sockets)
    load, connected = await Load.start(bench, specs)
    publisher = await Publisher.start(bench, accounts, mode)
    try:
        await load.all("reset")
        # `settle` saw the earlier workloads' accounts unbound (after the gateway's 20 s
        # grace); this lets the binds and presence calls of this storm's own connects land
        # before its operations are counted.
        await asyncio.sleep(UNBIND_SETTLE_S)
        counters0 = await bench.target.counters()
        cpu0 = node_cpu(bench)
        publishing = asyncio.create_task(
            publisher.publish(
                rate=sizes.storm_rate,
                duration_s=sizes.storm_window_s + 2.0,
                accounts=[a.id for a in accounts],
                random=True,
            )
        )
        stormed = await load.all("storm", window_s=sizes.storm_window_s)
        published = await publishing
        expected = await publisher.expected(published)
        stats = await drain(load, expected, sizes.settle_s)
        cpu = node_cpu(bench) - cpu0
        counters1 = await bench.target.counters()
    finally:
        await publisher.close(bench.group)
        await load.close(bench.group)
    ttl: Histogram = stats["time_to_live"]
    bind_ops = None
    if counters1.binds is not None and counters0.binds is not None:
        bind_ops = (counters1.binds - counters0.binds) + (
            (counters1.unbinds or 0.0) - (counters0.unbinds or 0.0)
        )
    return {
        "sockets": sizes.storm_sockets,
        "accounts": len(accounts),
        "connected": connected,
        "window_s": sizes.storm_window_s,
        "binds": _delta(counters0.binds, counters1.binds),
        "unbinds": _delta(counters0.unbinds, counters1.unbinds),
        "publish_mode": mode,
        "published": published["published"],
        "reconnected": ttl.count,
        "live_after": stats["live"],
        "storm_seconds": max(r["seconds"] for r in stormed),
        "ttl_p50_ms": _ms(ttl.percentile(0.5)),
        "ttl_p99_ms": _ms(ttl.percentile(0.99)),
        # p50 and p99 of each part of the time to live (loadgen.TTL_PHASES)
        "ttl_phases_ms": {
            phase: [_ms(h.percentile(0.5)), _ms(h.percentile(0.99))]
            for phase, h in stats["ttl_phases"].items()
        },
        "loss": stats["loss"],
        "clients_with_loss": stats["clients_with_loss"],
        "duplicates": stats["duplicates"],
        "bind_ops": bind_ops,
        "node_cpu_s": cpu,
        "errors": stats["errors"],
        "closes": stats["closes"],
    }


WORKLOADS: Final = {
    "idle": idle,
    "broadcast": broadcast,
    "saturation": saturation,
    "sparse": sparse,
    "slow": slow_reader,
    "storm": storm,
}
