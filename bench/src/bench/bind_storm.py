"""Bind storm: N accounts arrive on the gateways at once, one socket each, then all leave.

    .venv/bin/python -m bench.bind_storm --accounts 2000
    .venv/bin/python -m bench.bind_storm --accounts 2000 --py-spy /tmp/pyspy/bin/py-spy

What a node does when a dead node's clients reconnect to it (every account bound before its
sockets are live) and when they leave again (every account unbound, a grace period after its
last socket, before the node stops receiving their traffic). Real `livedesk gateway`
processes and real RabbitMQ; the API and presence are a stub, answered at once (the fan-out
bench's `livedesk-node` target, with its load generator), so the figures are the gateways'
and the broker's.

Phases, each with the nodes' CPU-seconds (utime+stime of every node process) and the load
average when it began:
- connect: from the first socket opened to the last one `ready` (a socket is sent `ready`
  after its account's bindings are in place), as the load generator's workers time it;
  binds/s over it.
- leave: from the sockets closed to no node reporting a bound account
  (`livedesk_gateway_bound_accounts` polled every 250 ms); `unbind_s` is the part after the
  first account was unbound (the grace, `unbind_grace_s`, comes before it); unbinds/s over it.

With `--py-spy BINARY` each node is recorded over both phases (raw collapsed stacks, one file
per node and phase, under `--out`), for `bench.bind_storm`'s own summary or a flame graph.
Print is the output; nothing is asserted. The machine is shared: say so with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench.fanout.livedesk_setup import default_amqp_url
from bench.fanout.livedesk_stack import BINDS, UNBINDS, metric_totals
from bench.fanout.node_alone import NodeAloneTarget
from bench.fanout.procs import RESULTS, ProcessGroup, cpu_seconds, raise_fd_limit
from bench.fanout.targets import client_specs
from bench.fanout.workloads import BOUND_ACCOUNTS, Bench, Load, Sizes

POLL_S = 0.25  # the metrics page lists every bound account: polled often, it costs the nodes CPU


async def counters(http: httpx.AsyncClient, ports: list[int]) -> dict[str, float]:
    """Bound accounts and bind/unbind operations, summed over the nodes."""
    totals = await metric_totals(http, ports)
    return {
        "bound": totals.get(BOUND_ACCOUNTS, 0.0),
        "bind": totals.get(BINDS, 0.0),
        "unbind": totals.get(UNBINDS, 0.0),
    }


class Profiler:
    """py-spy recording every node over one phase, if a binary was given."""

    def __init__(self, binary: str | None, out: Path, pids: list[int]) -> None:
        self._binary, self._out, self._pids = binary, out, pids
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, phase: str) -> None:
        if self._binary is None:
            return
        self._out.mkdir(parents=True, exist_ok=True)
        for index, pid in enumerate(self._pids):
            path = self._out / f"{phase}-node{index}.txt"
            argv = [self._binary, "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                    "--format", "raw", "--output", str(path)]  # fmt: skip
            self._running.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))

    async def stop(self) -> None:
        for process in self._running:
            process.send_signal(signal.SIGINT)
        for process in self._running:
            await asyncio.to_thread(process.wait, 30)
        self._running.clear()


async def storm(args: argparse.Namespace, group: ProcessGroup) -> dict[str, Any]:
    target = NodeAloneTarget(group, args.amqp_url, args.nodes)
    bench = Bench(target, group, replace(Sizes(), loadgen_workers=args.workers), "bus", "bus")
    await target.start()
    ports = [node.port for node in target.nodes()]
    pids = [node.process.pid for node in target.nodes()]
    profiler = Profiler(args.py_spy, Path(args.out), pids)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            # Warm-up: one account arrives on every node and leaves, so that imports and first
            # calls are not in the figures.
            warm = await target.bus_accounts(1)
            load, _ = await Load.start(bench, client_specs(target, warm, len(ports)))
            await load.close(group)
            while True:
                if (await counters(http, ports))["bound"] <= 0:
                    break
                await asyncio.sleep(POLL_S)

            specs = client_specs(target, await target.accounts(args.accounts), args.accounts)
            before = await counters(http, ports)
            load_connect = os.getloadavg()
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            profiler.start("connect")
            load, connected_load = await Load.start(bench, specs)
            ready, connect_s = connected_load["live"], connected_load["seconds"]
            cpu1 = sum(cpu_seconds(pid) for pid in pids)
            await profiler.stop()
            connected = await counters(http, ports)

            await asyncio.sleep(1.0)  # nothing pending: the leave phase starts clean
            load_leave = os.getloadavg()
            cpu2 = sum(cpu_seconds(pid) for pid in pids)
            profiler.start("leave")
            left = time.monotonic()
            await load.close(group)
            stopped = time.monotonic()
            first_unbind: float | None = None
            while True:
                now = await counters(http, ports)
                if first_unbind is None and now["unbind"] > connected["unbind"]:
                    first_unbind = time.monotonic()
                if now["bound"] <= 0:
                    break
                if time.monotonic() - left > args.timeout:
                    raise TimeoutError(f"{now['bound']} accounts still bound")
                await asyncio.sleep(POLL_S)
            done = time.monotonic()
            cpu3 = sum(cpu_seconds(pid) for pid in pids)
            await profiler.stop()
    finally:
        await profiler.stop()
        await target.stop()
    binds = connected["bind"] - before["bind"]
    unbinds = now["unbind"] - connected["unbind"]
    unbind_s = done - (first_unbind or done)
    return {
        "accounts": args.accounts,
        "nodes": args.nodes,
        "ready": ready,
        "connect_s": round(connect_s, 2),
        "connect_node_cpu_s": round(cpu1 - cpu0, 2),
        "bind_ops": binds,
        "bind_ops_per_s": round(binds / connect_s),
        "leave_s": round(done - left, 2),
        "loadgen_stop_s": round(stopped - left, 2),
        "unbind_s": round(unbind_s, 2),
        "leave_node_cpu_s": round(cpu3 - cpu2, 2),
        "unbind_ops": unbinds,
        # Unbinds done within one poll have no measurable duration: no rate, not a huge one.
        "unbind_ops_per_s": round(unbinds / unbind_s) if unbind_s >= POLL_S else None,
        "load_average_at_connect": [round(x, 2) for x in load_connect],
        "load_average_at_leave": [round(x, 2) for x in load_leave],
    }


async def main(args: argparse.Namespace) -> None:
    raise_fd_limit()  # children inherit it
    async with ProcessGroup(RESULTS / f"logs-bind-storm-{time.strftime('%Y%m%d-%H%M%S')}") as group:
        for _ in range(args.rounds):  # fresh nodes each round
            print(json.dumps(await storm(args, group)), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default=default_amqp_url())
    parser.add_argument("--accounts", type=int, default=2000, help="one socket each")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--rounds", type=int, default=1, help="fresh nodes each round")
    parser.add_argument("--timeout", type=float, default=180.0, help="leave phase limit, s")
    parser.add_argument("--py-spy", help="py-spy binary: record the nodes over each phase")
    parser.add_argument("--out", default=str(RESULTS / "bind-storm"), help="profiles go here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
