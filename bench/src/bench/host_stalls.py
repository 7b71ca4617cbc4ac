"""How often, and for how long, this machine stops a process that has nothing else to do.

    .venv/bin/python -m bench.host_stalls --seconds 15

An event loop sleeps 1 ms again and again and counts the wake-ups that come late by more
than `--threshold-ms`. On the machine these benchmarks ran on, with no benchmark running, an
idle loop was held 3-5 ms about every 0.51 s (two probes at once were held at different
moments: something on the host takes a core, not a pause of the whole machine). Some 0.4-0.8%
of events then meet such a stall on their way, which is where a p99 of a few milliseconds
lands (bench.fanout's sparse workload, on either server). Run it before comparing tail
latencies across machines or sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time

SLEEP_S = 0.001
# Later than this counts as held: above the loop's own jitter, below the stalls seen here.
THRESHOLD_S = 0.002


async def probe(seconds: float, threshold_s: float) -> list[tuple[float, float]]:
    """(monotonic time, lateness in seconds) of each wake-up later than `threshold_s`."""
    stalls: list[tuple[float, float]] = []
    end = time.monotonic() + seconds
    while (start := time.monotonic()) < end:
        await asyncio.sleep(SLEEP_S)
        late = time.monotonic() - start - SLEEP_S
        if late > threshold_s:
            stalls.append((start, late))
    return stalls


def report(stalls: list[tuple[float, float]], seconds: float, threshold_s: float) -> str:
    head = f"wake-ups late by more than {threshold_s * 1000:.1f} ms in {seconds:.0f} s:"
    if not stalls:
        return f"{head} none"
    lateness = sorted(late * 1000 for _, late in stalls)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(stalls)]
    period = f", median interval {statistics.median(gaps):.3f} s" if gaps else ""
    held = sum(lateness) / 1000 / seconds
    return (
        f"{head} {len(stalls)} ({len(stalls) / seconds:.1f}/s{period}); "
        f"late by median {statistics.median(lateness):.1f} ms, max {lateness[-1]:.1f} ms; "
        f"{held:.2%} of the time held"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.host_stalls", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threshold-ms", type=float, default=THRESHOLD_S * 1000)
    args = parser.parse_args()
    threshold_s = args.threshold_ms / 1000
    stalls = asyncio.run(probe(args.seconds, threshold_s))
    print(report(stalls, args.seconds, threshold_s))


if __name__ == "__main__":
    main()
