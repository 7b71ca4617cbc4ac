"""Main-thread busy time from a Chromium trace (`Browser.start_tracing`'s JSON).

A renderer's main thread is the one its metadata names `CrRendererMain`. Chromium wraps
each task that thread runs in a complete event ("ph": "X") of the `toplevel` category; the
union of those intervals is the time the thread was busy (scripts, style, layout, paint
and everything else a task does), which is what stands between an input and the next
frame. Intervals are merged, so that nested or overlapping top-level slices count once.
Deliberately not here: recording the trace (`measure`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

MAIN_THREAD: Final = "CrRendererMain"
TOP_LEVEL: Final = "toplevel"
# What the bench asks Chromium to record: top-level tasks, the timeline and user timing.
CATEGORIES: Final = ["toplevel", "devtools.timeline", "blink.user_timing"]


def main_threads(events: Iterable[Mapping[str, Any]]) -> set[tuple[int, int]]:
    """(pid, tid) of every renderer main thread the trace names."""
    return {
        (event["pid"], event["tid"])
        for event in events
        if event.get("ph") == "M"
        and event.get("name") == "thread_name"
        and event.get("args", {}).get("name") == MAIN_THREAD
    }


def busy_ms(trace: bytes) -> float:
    """Milliseconds the renderers' main threads spent running top-level tasks."""
    events: list[dict[str, Any]] = json.loads(trace)["traceEvents"]
    threads = main_threads(events)
    spans = sorted(
        (event["ts"], event["ts"] + event.get("dur", 0))
        for event in events
        if event.get("ph") == "X"
        and TOP_LEVEL in event.get("cat", "").split(",")
        and (event["pid"], event["tid"]) in threads
    )
    total_us = 0.0
    start, end = None, None
    for span_start, span_end in spans:
        if end is None or span_start > end:
            if start is not None and end is not None:
                total_us += end - start
            start, end = span_start, span_end
        else:
            end = max(end, span_end)
    if start is not None and end is not None:
        total_us += end - start
    return total_us / 1000
