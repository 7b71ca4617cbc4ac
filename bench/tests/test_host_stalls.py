"""bench.host_stalls finds the moments a process is held from running, and sums them up."""

from __future__ import annotations

import asyncio
import time

from bench.host_stalls import probe, report


async def test_a_loop_held_by_blocking_work_is_seen_late_by_about_that_long() -> None:
    async def hold() -> None:
        await asyncio.sleep(0.05)
        time.sleep(0.03)  # noqa: ASYNC251 - the point: held, as a host taking the core would

    stalls, _ = await asyncio.gather(probe(0.2, 0.01), hold())

    [held] = [late for _, late in stalls if late > 0.02]
    assert 0.025 < held < 0.1


def test_the_report_gives_count_interval_lateness_and_share() -> None:
    stalls = [(10.0, 0.004), (10.5, 0.003), (11.0, 0.005)]

    assert report(stalls, 10.0, 0.002) == (
        "wake-ups late by more than 2.0 ms in 10 s: 3 (0.3/s, median interval 0.500 s); "
        "late by median 4.0 ms, max 5.0 ms; 0.12% of the time held"
    )


def test_the_report_says_none_when_nothing_was_late() -> None:
    assert report([], 5.0, 0.002) == "wake-ups late by more than 2.0 ms in 5 s: none"
