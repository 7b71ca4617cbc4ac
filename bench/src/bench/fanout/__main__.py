"""`python -m bench.fanout`: run the workloads on the peer and on Livedesk, print, save JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

import uvloop

from bench import host_stalls
from bench.fanout import node_alone, report
from bench.fanout.interleaved import INTERLEAVABLE, interleaved
from bench.fanout.livedesk_stack import LivedeskTarget
from bench.fanout.node_alone import NodeAloneTarget
from bench.fanout.procs import RESULTS, ROOT, ProcessGroup, load_average, raise_fd_limit
from bench.fanout.targets import PeerTarget, Target
from bench.fanout.workloads import WORKLOADS, Bench, Sizes, settle

# Before anything starts: what the host itself does to an idle process's latency (see
# bench.host_stalls), so that tail latencies can be read against it.
HOST_PROBE_S = 5.0
# Workloads that Livedesk runs once per publish mode (columns livedesk, livedesk-<mode>).
MULTI_MODE = ("broadcast", "sparse")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description="Livedesk's gateway vs python-socketio + AsyncAioPikaManager, side by side.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--servers",
        default="peer,livedesk",
        help="comma list of: peer, livedesk, livedesk-node (the gateway nodes alone, against a "
        f"stub API, for profiling; workloads {', '.join(node_alone.WORKLOADS)})",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma list of: {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--livedesk-mode",
        default="rest,bus",
        help="how Livedesk events are published in broadcast and sparse, comma list: rest "
        "(POST messages: the whole path, API, outbox, relay, gateway) and/or bus (pre-encoded "
        "events onto livedesk.events, like for like with the peer's emit); the first mode "
        "is also used by the slow reader",
    )
    parser.add_argument("--saturation-mode", choices=("rest", "bus"), default="bus")
    parser.add_argument("--amqp-url", default=os.environ.get(
        "LIVEDESK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))  # fmt: skip
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LIVEDESK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )  # fmt: skip
    parser.add_argument("--broadcast-rate", type=float, help="events/s in broadcast")
    parser.add_argument("--sparse-rate", type=float, help="events/s in sparse")
    parser.add_argument("--window", type=float, help="seconds per measurement window")
    parser.add_argument("--slow-rate", type=float, help="events/s in the slow-reader workload")
    parser.add_argument(
        "--slow-stall",
        type=float,
        help="seconds the slow reader stalls; every window of that workload lasts this long",
    )
    parser.add_argument(
        "--slow-rounds", type=int, help="stall windows (and as many no-stall controls)"
    )
    parser.add_argument(
        "--interleave",
        type=int,
        metavar="ROUNDS",
        help=f"{' and '.join(INTERLEAVABLE)}: every server up at once, ROUNDS rounds of one "
        "window each, in alternating order (A B, B A, ...), each server's windows pooled; "
        "the other workloads run one server after the other as usual",
    )
    parser.add_argument(
        "--idle-window",
        type=float,
        help="seconds with the sockets held and nothing published, before each broadcast and "
        "sparse window (one server at a time) and in idle: the nodes' fixed CPU cost, and "
        "their CPU per event above it",
    )
    parser.add_argument(
        "--print-pids",
        action="store_true",
        help="each server's node pids on stderr once it is up, for a profiler to attach",
    )
    parser.add_argument("--loadgen-workers", type=int, help="load generator processes")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/...)")
    return parser.parse_args(argv)


# Options that replace one of `Sizes` when given: option's attribute -> Sizes field.
SIZE_OPTIONS: Final = {
    "broadcast_rate": "broadcast_rate",
    "sparse_rate": "sparse_rate",
    "window": "window_s",
    "slow_rate": "slow_rate",
    "slow_stall": "slow_stall_s",
    "slow_rounds": "slow_rounds",
    "loadgen_workers": "loadgen_workers",
    "idle_window": "idle_window_s",
}


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes()
    changes = {
        field: value for option, field in SIZE_OPTIONS.items() if (value := getattr(args, option))
    }
    return replace(sizes, **changes)


def make_target(name: str, group: ProcessGroup, args: argparse.Namespace) -> Target:
    if name == "peer":
        return PeerTarget(group, args.amqp_url)
    if name == "livedesk":
        return LivedeskTarget(group, args.amqp_url, args.postgres_url)
    if name == NodeAloneTarget.name:
        return NodeAloneTarget(group, args.amqp_url)
    raise SystemExit(f"unknown server {name!r}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    servers = [s for s in args.servers.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    if unknown := [w for w in workloads if w not in WORKLOADS]:
        raise SystemExit(f"unknown workloads: {unknown}")
    if NodeAloneTarget.name in servers and (
        needs_api := [w for w in workloads if w not in node_alone.WORKLOADS]
    ):
        raise SystemExit(
            f"{NodeAloneTarget.name} has no API to replay from, which {', '.join(needs_api)} "
            "need: run them on livedesk"
        )
    # Idle memory first: it must see nodes that have not served anything yet.
    workloads.sort(key=list(WORKLOADS).index)
    sizes = sizes_from(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / f"logs-{stamp}"
    results: dict[str, dict[str, Any]] = {w: {} for w in workloads}
    meta: dict[str, Any] = {
        "started": stamp,
        "argv": sys.argv,
        "quick": args.quick,
        "sizes": asdict(sizes),
        "fd_limit": raise_fd_limit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_start": load_average(),
        "host_stalls": host_stalls.report(
            await host_stalls.probe(HOST_PROBE_S, host_stalls.THRESHOLD_S),
            HOST_PROBE_S,
            host_stalls.THRESHOLD_S,
        ),
        "commit": _commit(),
        "logs": str(log_dir),
        "errors": {},
    }
    modes = [m for m in args.livedesk_mode.split(",") if m]
    if bad := [m for m in modes if m not in ("rest", "bus")]:
        raise SystemExit(f"unknown livedesk modes: {bad}")
    shared = Run(args, modes, log_dir, results, meta["errors"])
    together = [w for w in workloads if args.interleave and w in INTERLEAVABLE]
    one_by_one = [w for w in workloads if w not in together]
    for server in servers if one_by_one else []:
        await _one_server(shared, server, one_by_one)
    if together:
        await _together(shared, servers, together)
    meta["load_avg_end"] = load_average()
    return {"meta": meta, "results": results}


@dataclass
class Run:
    """What every part of one run shares: its options, its logs, what it found."""

    args: argparse.Namespace
    modes: list[str]  # Livedesk's publish modes; the first is its default
    log_dir: Path
    results: dict[str, dict[str, Any]]  # [workload][column]
    errors: dict[str, str]  # where -> what

    def bench(self, group: ProcessGroup, server: str) -> Bench:
        target = make_target(server, group, self.args)
        return Bench(target, group, sizes_from(self.args), self.modes[0], self.args.saturation_mode)

    def columns(self, bench: Bench, workload: str) -> list[tuple[str, Bench]]:
        """The result columns one server's workload fills: Livedesk's broadcast and sparse
        once per publish mode (livedesk, livedesk-<second mode>, ...)."""
        server = bench.target.name
        if server != "livedesk" or workload not in MULTI_MODE:
            return [(server, bench)]
        return [
            (server if i == 0 else f"{server}-{mode}", replace(bench, livedesk_mode=mode))
            for i, mode in enumerate(self.modes)
        ]

    def failed(self, where: str, error: Exception) -> None:
        """Keep going with the rest of the run; the error is printed and saved."""
        traceback.print_exc()
        self.errors[where] = f"{type(error).__name__}: {error}"


async def _one_server(shared: Run, server: str, workloads: list[str]) -> None:
    """The workloads on one server, one after the other, on nodes that live through them."""
    async with ProcessGroup(shared.log_dir) as group:
        bench = shared.bench(group, server)
        print(f"== {server}: starting", flush=True)
        try:
            await _start(shared, bench.target)
            for workload in workloads:
                print(f"== {server}: {workload} (load avg {load_average()[0]:.2f})", flush=True)
                started = time.monotonic()
                for column, variant in shared.columns(bench, workload):
                    try:
                        waited = await settle(variant)
                        print(f"   {column}: settled in {waited:.1f} s", flush=True)
                        shared.results[workload][column] = await WORKLOADS[workload](variant)
                    except Exception as error:
                        shared.failed(f"{column}/{workload}", error)
                print(f"   {time.monotonic() - started:.1f} s", flush=True)
        finally:
            await bench.target.stop()


async def _together(shared: Run, servers: list[str], workloads: list[str]) -> None:
    """The workloads with every server up at once, their windows interleaved."""
    rounds = shared.args.interleave
    async with ProcessGroup(shared.log_dir) as group:
        bases = [shared.bench(group, server) for server in servers]
        try:
            for base in bases:
                print(f"== {base.target.name}: starting", flush=True)
                await _start(shared, base.target)
            for workload in workloads:
                benches = dict(pair for base in bases for pair in shared.columns(base, workload))
                print(f"== interleaved {workload}: {rounds} rounds of {', '.join(benches)} "
                      f"(load avg {load_average()[0]:.2f})", flush=True)  # fmt: skip
                try:
                    for base in bases:
                        await settle(base)
                    shared.results[workload] = await interleaved(benches, workload, rounds)
                except Exception as error:
                    shared.failed(f"interleaved/{workload}", error)
        finally:
            for base in bases:
                await base.target.stop()


async def _start(shared: Run, target: Target) -> None:
    await target.start()
    if shared.args.print_pids:
        pids = " ".join(str(node.process.pid) for node in target.nodes())
        print(f"# {target.name} node pids: {pids}", file=sys.stderr, flush=True)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    data = uvloop.run(run(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"fanout-{data['meta']['started']}.json"
    out.write_text(json.dumps(data, indent=1, default=str))
    meta = data["meta"]
    print()
    print(
        f"fanout bench ({'quick' if meta['quick'] else 'full'}), commit {meta['commit']}, "
        f"{meta['cpus']} cores, load avg at start {meta['load_avg_start'][0]:.2f}, "
        f"at end {meta['load_avg_end'][0]:.2f}"
    )
    print(f"host, before the run: {meta['host_stalls']}")
    print(report.render(data["results"]))
    for where, error in meta["errors"].items():
        print(f"ERROR {where}: {error}")
    print(f"\nraw results: {out}\nprocess logs: {meta['logs']}")
    return 1 if meta["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
