"""The interleaved fan-out comparison: the order of its windows, how windows pool, and the
per-round ratios (bench.fanout.interleaved)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.fanout.interleaved import per_round, pooled, window_order
from bench.fanout.stats import Histogram


def a_window(latencies_s: list[float], *, cpu: float, loss: int = 0) -> dict[str, Any]:
    latency = Histogram()
    for seconds in latencies_s:
        latency.add(seconds)
    p99 = latency.percentile(0.99)
    return {
        "publish_mode": "bus",
        "asked_rate": 200.0,
        "achieved_rate": 199.0,
        "published": len(latencies_s),
        "deliveries": len(latencies_s),
        "elapsed_s": 10.0,
        "p99_ms": None if p99 is None else p99 * 1000,
        "loss": loss,
        "duplicates": 0,
        "node_cpu_s": cpu,
        "loadgen_cpu_s": 0.5,
        "load_avg_before": (1.0, 1.0, 1.0),
        "latency_buckets": latency.to_json(),
    }


def test_each_round_reverses_the_one_before() -> None:
    assert window_order(["peer", "livedesk"], 4) == [
        ["peer", "livedesk"],
        ["livedesk", "peer"],
        ["peer", "livedesk"],
        ["livedesk", "peer"],
    ]


def test_every_column_runs_once_per_round_and_as_often_first_as_last() -> None:
    order = window_order(["a", "b", "c"], 6)
    assert all(sorted(r) == ["a", "b", "c"] for r in order)
    assert [r[0] for r in order].count("a") == [r[-1] for r in order].count("a") == 3


def test_pooled_percentiles_are_those_of_all_samples_together() -> None:
    # Each window alone has a p99 of 1 ms; together, 2% of the samples are 9 ms.
    quick = a_window([0.001] * 980 + [0.009] * 20, cpu=1.0)
    slow = a_window([0.001] * 990 + [0.009] * 10, cpu=3.0, loss=2)
    assert quick["p99_ms"] == pytest.approx(9.0, rel=0.02)
    assert slow["p99_ms"] == pytest.approx(1.0, rel=0.02)
    both = pooled([quick, slow])
    assert both["p99_ms"] == pytest.approx(9.0, rel=0.02)
    assert both["p50_ms"] == pytest.approx(1.0, rel=0.02)
    assert both["p99_ms_each"] == [quick["p99_ms"], slow["p99_ms"]]
    assert both["deliveries"] == 2000
    assert both["deliveries_per_cpu_s"] == pytest.approx(500.0)
    assert both["deliveries_per_s"] == pytest.approx(100.0)
    assert both["loss"] == 2
    assert Histogram.from_json(both["latency_buckets"]).count == 2000


def test_rounds_compare_each_column_with_the_base_in_the_same_round() -> None:
    rounds: list[dict[str, dict[str, Any]]] = [
        {"peer": {"p99_ms": 4.0}, "livedesk": {"p99_ms": 3.0}},
        {"livedesk": {"p99_ms": 5.0}, "peer": {"p99_ms": 4.0}},
        {"peer": {"p99_ms": None}, "livedesk": {"p99_ms": 2.0}},
    ]
    compared = per_round(rounds)
    assert list(compared) == ["livedesk"]
    assert compared["livedesk"]["ratios"] == [0.75, 1.25, None]
    assert compared["livedesk"]["lower"] == 1
    assert compared["livedesk"]["compared"] == 2
