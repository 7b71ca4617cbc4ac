"""The page bench's trace reading: the renderer main thread's top-level tasks, merged."""

from __future__ import annotations

import json
from typing import Any

from bench.inbox_page.trace import busy_ms


def _trace(events: list[dict[str, Any]]) -> bytes:
    names = [
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 10, "args": {"name": "CrRendererMain"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 11, "args": {"name": "Compositor"}},
    ]
    return json.dumps({"traceEvents": names + events}).encode()


def _task(ts: int, dur: int, tid: int = 10, cat: str = "x,toplevel") -> dict[str, Any]:
    return {"ph": "X", "name": "RunTask", "cat": cat, "pid": 1, "tid": tid, "ts": ts, "dur": dur}


def test_top_level_tasks_of_the_main_thread_add_up() -> None:
    assert busy_ms(_trace([_task(0, 1000), _task(5000, 2500)])) == 3.5


def test_overlapping_and_nested_tasks_count_once() -> None:
    assert busy_ms(_trace([_task(0, 1000), _task(200, 300), _task(900, 600)])) == 1.5


def test_other_threads_and_categories_do_not_count() -> None:
    other_thread = _task(0, 4000, tid=11)
    not_top_level = _task(10_000, 4000, cat="devtools.timeline")
    assert busy_ms(_trace([other_thread, not_top_level, _task(20_000, 250)])) == 0.25
