"""The fan-out bench waits, before each workload, for the nodes to let go of the previous
workload's accounts (`workloads.settle`); a target that reports no bindings is settled."""

from __future__ import annotations

from typing import Any, cast

from bench.fanout.targets import Counters
from bench.fanout.workloads import BOUND_ACCOUNTS, Bench, settle


class Reporting:
    """A target whose nodes report these bound-account counts, one per scrape."""

    def __init__(self, *bound: float | None) -> None:
        self.scrapes = 0
        self._bound = list(bound)

    async def counters(self) -> Counters:
        value = self._bound[min(self.scrapes, len(self._bound) - 1)]
        self.scrapes += 1
        return Counters(extra={} if value is None else {BOUND_ACCOUNTS: value})


def bench_of(target: Reporting) -> Bench:
    return Bench(cast(Any, target), cast(Any, None), cast(Any, None), "rest", "bus")


async def test_it_waits_until_no_node_holds_an_account() -> None:
    target = Reporting(2000.0, 3.0, 0.0)
    waited = await settle(bench_of(target))
    assert target.scrapes == 3
    assert waited >= 0.9  # two polls, half a second apart


async def test_a_target_without_bindings_is_settled_at_once() -> None:
    target = Reporting(None)
    assert await settle(bench_of(target)) < 0.5
    assert target.scrapes == 1
