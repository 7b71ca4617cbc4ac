"""Latency histograms and per-client delivery ledgers, cheap enough for the hot path.

A `Histogram` keeps counts in logarithmic buckets 1% wide (in microseconds), so worker
processes send the driver a few hundred numbers instead of a million samples, and merged
percentiles are exact to within 1%. A `Ledger` follows one client's sequence numbers (the
Livedesk offset, or the peer's per-account seq): deliveries, duplicates (a number at or below
the last one seen), gaps (numbers skipped), and at the end the tail still missing.
`neighbour_shift` and `spread` compare windows run in alternation (baseline, treated,
baseline, ...): on a shared machine a figure drifts, so a treated window is compared with
the baselines on either side of it, and the baselines' own spread is the noise floor.
Deliberately not here: clocks and sockets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

_GROWTH: Final = 1.01
_LOG_GROWTH: Final = math.log(_GROWTH)


@dataclass
class Histogram:
    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0

    def add(self, seconds: float) -> None:
        micros = seconds * 1e6
        index = int(math.log(micros) / _LOG_GROWTH) if micros > 1.0 else 0
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1

    def merge(self, other: Histogram) -> None:
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.count += other.count

    def percentile(self, fraction: float) -> float | None:
        """The value (seconds) below which `fraction` of the samples lie; None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return float(_GROWTH ** (index + 1) / 1e6)
        raise AssertionError("unreachable: counts add up to count")

    def to_json(self) -> dict[str, int]:
        return {str(index): count for index, count in self.buckets.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> Histogram:
        buckets = {int(index): int(count) for index, count in data.items()}
        return cls(buckets, sum(buckets.values()))

    @classmethod
    def merged(cls, parts: Iterable[Histogram]) -> Histogram:
        total = cls()
        for part in parts:
            total.merge(part)
        return total


def ratio(a: float | None, b: float | None) -> float | None:
    """a over b; None when either is missing or b is 0."""
    return None if a is None or not b else a / b


def neighbour_shift(before: float | None, value: float | None, after: float | None) -> float | None:
    """`value` over the mean of the windows either side of it, minus 1 (+0.1: 10% higher)."""
    sides = [side for side in (before, after) if side is not None]
    if value is None or not sides or not sum(sides):
        return None
    return value / (sum(sides) / len(sides)) - 1.0


def spread(values: Iterable[float | None]) -> float | None:
    """(max - min) / mean of the values present: how far apart like windows land."""
    present = [v for v in values if v is not None]
    if not present or not sum(present):
        return None
    return (max(present) - min(present)) / (sum(present) / len(present))


def above_idle(share: float | None, window: Mapping[str, Any]) -> dict[str, Any]:
    """A window's node CPU split into the fixed cost (`share` of a core, measured with the
    sockets held and nothing published, for as long as the window took) and the cost of each
    event published above it. Nothing when the fixed cost was not measured."""
    if share is None:
        return {}
    fixed, cpu, published = share * window["elapsed_s"], window["node_cpu_s"], window["published"]
    return {
        "idle_node_cpu_share": share,
        "idle_part_of_node_cpu": fixed / cpu if cpu else None,
        "node_cpu_us_per_event_above_idle": (cpu - fixed) / published * 1e6 if published else None,
    }


@dataclass(slots=True)
class Ledger:
    """One client's view of its account's sequence: what arrived, twice, or never."""

    last: int = 0  # the highest number seen (or the `ready` offset it started from)
    received: int = 0
    duplicates: int = 0
    gaps: int = 0  # numbers skipped over so far (lost unless they arrive later as "duplicates")

    def start(self, offset: int) -> None:
        """The server says the live stream starts after `offset` (Livedesk `ready`)."""
        if offset > self.last:
            self.last = offset

    def record(self, seq: int) -> None:
        self.received += 1
        if seq <= self.last:
            self.duplicates += 1
            return
        self.gaps += seq - self.last - 1
        self.last = seq

    def missing(self, expected_last: int) -> int:
        """Numbers never seen: skipped ones plus the tail up to `expected_last`."""
        return self.gaps + max(0, expected_last - self.last)

    def reset_counts(self) -> None:
        """A new measurement window: counts restart, the position is kept."""
        self.received = self.duplicates = self.gaps = 0
