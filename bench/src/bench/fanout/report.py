"""Tables for the terminal: one per workload, both servers side by side, and the ratios.

Ratios are Livedesk over the peer (deliveries per node CPU-second, idle memory, ...), the
figures the gateway issue's aims are stated in. A missing figure prints as "-".
Deliberately not here: measuring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.fanout.stats import ratio

Row = tuple[str, Callable[[dict[str, Any]], Any]]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title: str, results: dict[str, dict[str, Any]], rows: list[Row]) -> str:
    servers = list(results)
    cells: list[list[str]] = []
    for _label, get in rows:
        line = []
        for server in servers:
            try:
                line.append(_fmt(get(results[server])))
            except (KeyError, TypeError, IndexError):
                line.append("-")
        cells.append(line)
    # Columns are 18 wide unless a cell (a list of per-window figures) needs more.
    widths = [max([18, *(len(line[i]) + 2 for line in cells)]) for i in range(len(servers))]

    def row(label: str, line: list[str]) -> str:
        return f"  {label:<34}" + "".join(f"{c:>{w}}" for c, w in zip(line, widths, strict=True))

    lines = [title, row("", servers)]
    lines += [row(label, line) for (label, _get), line in zip(rows, cells, strict=True)]
    return "\n".join(lines)


def _kb(value: Any) -> float | None:
    return None if value is None else value / 1024


WINDOW_ROWS: list[Row] = [
    ("publish mode", lambda r: r["publish_mode"]),
    ("events/s asked / reached", lambda r: f"{r['asked_rate']:.0f} / {r['achieved_rate']:.0f}"),
    ("deliveries/s", lambda r: r["deliveries_per_s"]),
    ("latency p50 ms", lambda r: r["p50_ms"]),
    ("latency p99 ms", lambda r: r["p99_ms"]),
    ("node CPU-s per 100k deliveries", lambda r: r["cpu_s_per_100k"]),
    ("deliveries per node CPU-s", lambda r: r["deliveries_per_cpu_s"]),
    ("loss / duplicates", lambda r: f"{r['loss']} / {r['duplicates']}"),
    ("load generator CPU-s", lambda r: r["loadgen_cpu_s"]),
    ("load avg before", lambda r: f"{r['load_avg_before'][0]:.2f}"),
]


# Beside WINDOW_ROWS when the nodes' fixed cost was measured (--idle-window).
FIXED_COST_ROWS: list[Row] = [
    ("node CPU share, idle (fixed cost)", lambda r: r["idle_node_cpu_share"]),
    ("  its part of the window's node CPU", lambda r: _pct(r["idle_part_of_node_cpu"], "")),
    ("node CPU us per event above idle", lambda r: r["node_cpu_us_per_event_above_idle"]),
]


# Beside WINDOW_ROWS when the windows were interleaved (bench.fanout.interleaved).
INTERLEAVED_ROWS: list[Row] = [
    ("latency p99.9 ms", lambda r: r["p999_ms"]),
    ("p99 ms, each window", lambda r: _each(r["p99_ms_each"])),
    ("p99 / peer's, each round", lambda r: _each(r["p99_vs_base_each_round"]["ratios"])),
    ("rounds with the lower p99", lambda r: f"{r['p99_vs_base_each_round']['lower']} of "
     f"{r['p99_vs_base_each_round']['compared']}"),
]  # fmt: skip


def render(results: dict[str, dict[str, Any]]) -> str:
    """`results[workload][server]` -> the text of every table."""
    out: list[str] = []
    if "idle" in results:
        r = results["idle"]
        out.append(table("IDLE MEMORY (authenticated idle sockets, RSS of the nodes)", r, [
            ("sockets live / asked", lambda x: f"{x['live']} / {x['sockets']}"),
            ("accounts", lambda x: x["accounts"]),
            ("connect time s", lambda x: x["connect_s"]),
            ("KB per idle socket", lambda x: _kb(x["bytes_per_socket"])),
            *(FIXED_COST_ROWS[:1] if _measured(r, "idle_node_cpu_share") else []),
        ]))  # fmt: skip
        out.append(_ratio_line("KB per socket livedesk/peer", r, "bytes_per_socket"))
    for name, title in (("broadcast", "BROADCAST (one account)"), ("sparse", "SPARSE (one "
                        "account per socket, events to random accounts)")):  # fmt: skip
        if name in results:
            r = results[name]
            rows = [("sockets / accounts", lambda x: f"{x['sockets']} / {x['accounts']}"),
                    *WINDOW_ROWS]  # fmt: skip
            if name == "sparse":
                rows.append(("foreign messages at nodes", lambda x: x["foreign_messages"]))
            if _measured(r, "idle_node_cpu_share"):
                rows += FIXED_COST_ROWS
            rounds = next((x["interleaved_rounds"] for x in r.values()
                           if "interleaved_rounds" in x), None)  # fmt: skip
            if rounds is not None:
                title += f", every server up at once, {rounds} interleaved rounds, pooled"
                rows += INTERLEAVED_ROWS
            out.append(table(title.upper(), r, rows))
            out.append(_ratio_line("deliveries per CPU-s livedesk/peer", r, "deliveries_per_cpu_s"))
            out.append(_ratio_line("p99 livedesk/peer", r, "p99_ms"))
    if "saturation" in results:
        r = results["saturation"]
        out.append(table("SATURATION (broadcast topology, rate stepped up)", r, [
            ("publish mode", lambda x: x["publish_mode"]),
            ("highest rate sustained ev/s", lambda x: x["highest_sustained_rate"]),
            ("deliveries/s at it", lambda x: x["deliveries_per_s_at_highest"]),
            ("stopped by", lambda x: x["stopped_by"] or "end of steps"),
        ]))  # fmt: skip
        out.append(_steps(r))
    if "slow" in results:
        r = results["slow"]
        out.append(table("SLOW READER (one socket stops reading; windows alternate baseline, "
                         "stall, baseline, control, ...)", r, [
            ("window s / stall rounds", lambda x: f"{x['window_s']:.0f} / {x['rounds']}"),
            ("others' p99 ms, baselines", lambda x: _each(x["baseline_p99_ms"])),
            ("baselines' spread (max-min)/mean", lambda x: _pct(x["baseline_spread"], "")),
            ("others' p99 ms, stalled", lambda x: _each(_of(x, "stall", "p99_ms"))),
            ("p99 shift vs neighbours, stalled", lambda x: _shifts(x["stall_shifts"],
                                                                   x["p99_shift"])),
            ("p99 shift vs neighbours, control", lambda x: _shifts(x["control_shifts"],
                                                                   x["control_shift"])),
            ("slow node / other node p99, base", lambda x: _each(_of(x, "baseline",
                                                                    "node_ratio"))),
            ("  baselines' spread", lambda x: _pct(x["baseline_node_ratio_spread"], "")),
            ("  stalled, shift vs neighbours", lambda x: _shifts(x["stall_node_ratio_shifts"],
                                                                x["node_ratio_shift"])),
            ("  control, shift vs neighbours", lambda x: _shifts(
                x["control_node_ratio_shifts"], x["control_node_ratio_shift"])),
            ("slow node / other node CPU, base", lambda x: _each(_of(x, "baseline",
                                                                    "node_cpu_ratio"))),
            ("  baselines' spread", lambda x: _pct(x["baseline_node_cpu_ratio_spread"], "")),
            ("  stalled, shift vs neighbours", lambda x: _shifts(
                x["stall_node_cpu_ratio_shifts"], x["node_cpu_ratio_shift"])),
            ("  control, shift vs neighbours", lambda x: _shifts(
                x["control_node_cpu_ratio_shifts"], x["control_node_cpu_ratio_shift"])),
            ("others' loss (all windows)", lambda x: x["others_loss"]),
            ("eviction after s", lambda x: _each([s["eviction_s"] for s in x["stalls"]],
                                                 f">{x['window_s']:.0f}")),
            ("4409 closes counted by nodes", lambda x: _each([s["too_slow_closes"]
                                                              for s in x["stalls"]])),
            ("close code the slow client saw", lambda x: _each([
                None if s["slow_close_code"] is None else str(s["slow_close_code"])
                for s in x["stalls"]])),
            ("slow reader missing after resume", lambda x: _each([s["slow_missing"]
                                                                  for s in x["stalls"]])),
            ("its node's RSS growth KB", lambda x: _each([_kb(s["slow_node_rss_growth"])
                                                          for s in x["stalls"]])),
            ("events sent / read while stalled", lambda x: _each([
                f"{s['slow_published_while_stalled']}/{s['slow_read_while_stalled']}"
                for s in x["stalls"]])),
            ("node kernel send queue KB, max", lambda x: _each([
                _kb(s["kernel_send_queue_max_bytes"]) for s in x["stalls"]])),
            ("node CPU-s per 100k, base/stall", lambda x: f"{_fmt(_mean_of(x, 'baseline'))} / "
             f"{_fmt(_mean_of(x, 'stall'))}"),
            ("load generator CPU, % of a core", lambda x: _each([
                100 * w["loadgen_cpu_s"] / w["elapsed_s"] for w in x["windows"]])),
            ("load avg before each window", lambda x: _each([w["load_avg_before"][0]
                                                             for w in x["windows"]])),
        ]))  # fmt: skip
    if "storm" in results:
        r = results["storm"]
        out.append(table("RECONNECT STORM (every socket reconnects with resume)", r, [
            ("sockets / accounts", lambda x: f"{x['sockets']} / {x['accounts']}"),
            ("window s", lambda x: x["window_s"]),
            ("reconnected / live after", lambda x: f"{x['reconnected']} / {x['live_after']}"),
            ("time to live p50 ms", lambda x: x["ttl_p50_ms"]),
            ("time to live p99 ms", lambda x: x["ttl_p99_ms"]),
            ("  p50 ms: close / wait / handshake / ready", lambda x: " / ".join(
                _fmt(p50) for p50, _ in x["ttl_phases_ms"].values())),
            ("events published during it", lambda x: x["published"]),
            ("loss / duplicates", lambda x: f"{x['loss']} / {x['duplicates']}"),
            ("bind / unbind ops (queue bindings)", lambda x: f"{_fmt(x['binds'])} / "
             f"{_fmt(x['unbinds'])}"),
            ("bind ops per distinct account", lambda x: ratio(x["bind_ops"], x["accounts"])),
        ]))  # fmt: skip
    return "\n\n".join(line for line in out if line)


def _measured(results: dict[str, dict[str, Any]], key: str) -> bool:
    """Whether any server's result has `key` (a figure only some runs measure)."""
    return any(result.get(key) is not None for result in results.values())


def _each(values: list[Any], none: str = "-") -> str:
    return ", ".join(none if v is None else _fmt(v) for v in values)


def _pct(value: float | None, sign: str = "+") -> str:
    return "-" if value is None else f"{value * 100:{sign}.0f}%"


def _shifts(each: list[float | None], mean: float | None) -> str:
    return ", ".join(_pct(v) for v in each) + f" (mean {_pct(mean)})"


def _of(result: dict[str, Any], kind: str, key: str) -> list[Any]:
    return [w[key] for w in result["windows"] if w["kind"] == kind]


def _mean_of(result: dict[str, Any], kind: str) -> float | None:
    values = [v for v in _of(result, kind, "cpu_s_per_100k") if v is not None]
    return sum(values) / len(values) if values else None


def _ratio_line(label: str, results: dict[str, dict[str, Any]], key: str) -> str:
    """Each Livedesk column over the peer, in the Livedesk columns."""
    if "peer" not in results:
        return ""
    cells = [
        "" if server == "peer" else _fmt(ratio(result.get(key), results["peer"].get(key)))
        for server, result in results.items()
    ]
    return f"  {label:<34}" + "".join(f"{c:>18}" for c in cells)


def _steps(results: dict[str, dict[str, Any]]) -> str:
    lines = ["  steps (server: asked ev/s -> deliveries/s, p99 ms, loss)"]
    for server, result in results.items():
        parts = [
            f"{s['asked_rate']:.0f}->{s['deliveries_per_s']:,.0f},{_fmt(s['p99_ms'])},{s['loss']}"
            + ("" if s["sustained"] else "X")
            for s in result.get("steps", [])
        ]
        lines.append(f"    {server}: " + "  ".join(parts))
    if "livedesk" in results and "peer" in results:
        peer = {s["asked_rate"]: s for s in results["peer"]["steps"] if s["sustained"]}
        shared = [
            f"{s['asked_rate']:.0f}: {_fmt(ratio(s['p99_ms'], peer[s['asked_rate']]['p99_ms']))}"
            for s in results["livedesk"]["steps"]
            if s["asked_rate"] in peer
        ]
        lines.append("    p99 livedesk/peer at each rate the peer sustains: " + ", ".join(shared))
    return "\n".join(lines)
