"""Every server up at once, one fan-out workload's windows alternating between them, pooled.

Run one server after the other (the default), sparse compared windows taken minutes apart,
on a host whose speed drifted by a third within an hour and which holds any process's event
loop for 2.5-5 ms about twice a second (bench.host_stalls). At 200 events/s both servers'
p99 lands at 3-6 ms, right where those stalls put it, and the same-run ratio fell on either
side of 1 from run to run. Here every server holds its sockets and its publisher from the
first window to the last, and the windows alternate, each round in the reverse order of the
one before (A B, B A, A B, ...), so a drift that is steady in time falls on each alike. Each
server's windows are pooled into one histogram, and each round, whose windows are neighbours
in time, gives a ratio of its own.

Deliberately not here: the windows themselves (workloads.FanoutArm), starting servers
(__main__) and printing (report).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bench.fanout.stats import Histogram, ratio
from bench.fanout.workloads import Bench, FanoutArm, delivery_figures, fanout_plan

INTERLEAVABLE: Final = ("broadcast", "sparse")
BASE: Final = "peer"  # the column the others' ratios are taken against


def window_order(columns: Sequence[str], rounds: int) -> list[list[str]]:
    """The columns in order, then reversed, and so on: A B, B A, A B, ..."""
    return [list(columns) if r % 2 == 0 else list(reversed(columns)) for r in range(rounds)]


def pooled(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Like windows of one server as one: totals summed, percentiles of the merged histogram."""
    latency = Histogram.merged(Histogram.from_json(w["latency_buckets"]) for w in windows)
    return {
        "windows": len(windows),
        "publish_mode": windows[0]["publish_mode"],
        "asked_rate": windows[0]["asked_rate"],
        "achieved_rate": sum(w["achieved_rate"] for w in windows) / len(windows),
        "published": sum(w["published"] for w in windows),
        **delivery_figures(
            latency,
            sum(w["deliveries"] for w in windows),
            sum(w["node_cpu_s"] for w in windows),
            sum(w["elapsed_s"] for w in windows),
        ),
        "p99_ms_each": [w["p99_ms"] for w in windows],
        "loss": sum(w["loss"] for w in windows),
        "duplicates": sum(w["duplicates"] for w in windows),
        "loadgen_cpu_s": sum(w["loadgen_cpu_s"] for w in windows),
        "load_avg_before": windows[0]["load_avg_before"],
    }


def per_round(
    rounds: Sequence[Mapping[str, Mapping[str, Any]]], key: str = "p99_ms", base: str = BASE
) -> dict[str, dict[str, Any]]:
    """Each column's `key` over the base column's in the same round, and in how many rounds
    it was lower (a round missing either figure counts in neither)."""
    out: dict[str, dict[str, Any]] = {}
    columns = [c for c in rounds[0] if c != base] if rounds else []
    for column in columns:
        ratios = [ratio(r[column][key], r[base][key]) for r in rounds]
        present = [x for x in ratios if x is not None]
        out[column] = {
            "ratios": ratios,
            "lower": sum(1 for x in present if x < 1.0),
            "compared": len(present),
        }
    return out


async def interleaved(
    benches: Mapping[str, Bench], workload: str, rounds: int
) -> dict[str, dict[str, Any]]:
    """`rounds` rounds of one window per column, every column's sockets up throughout.

    Returns `results[column]`: the pooled figures, each window, and (not for the base) the
    per-round p99 ratios against the base column.
    """
    columns = list(benches)
    plans = {column: await fanout_plan(bench, workload) for column, bench in benches.items()}
    played: list[dict[str, dict[str, Any]]] = []
    async with contextlib.AsyncExitStack() as stack:
        arms = {
            column: await stack.enter_async_context(FanoutArm.running(bench, plans[column]))
            for column, bench in benches.items()
        }
        for index, order in enumerate(window_order(columns, rounds)):
            figures: dict[str, dict[str, Any]] = {}
            for column in order:
                figures[column] = await arms[column].window(benches[column].sizes.window_s)
            played.append(figures)
            print(
                f"   round {index + 1}/{rounds}: "
                + ", ".join(f"{c} p99 {_show(figures[c]['p99_ms'])} ms" for c in order),
                flush=True,
            )
    comparison = per_round(played) if BASE in benches else {}
    results: dict[str, dict[str, Any]] = {}
    for column, arm in arms.items():
        windows = [r[column] for r in played]
        results[column] = {
            **arm.describe(),
            "interleaved_rounds": rounds,
            "foreign_messages": await arm.foreign_messages(),
            **pooled(windows),
            "each_window": windows,
        }
        if column in comparison:
            results[column]["p99_vs_base_each_round"] = comparison[column]
    return results


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
