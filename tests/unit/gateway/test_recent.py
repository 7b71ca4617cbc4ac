"""RecentEvents: a contiguous run of the last frames, bounded in count and bytes."""

from __future__ import annotations

from livedesk.gateway.recent import RecentEvents
from livedesk.gateway.sockets import OutFrame


def frame(offset: int, size: int = 10) -> OutFrame:
    return OutFrame(str(offset).encode().ljust(size, b"."))


def offsets(frames: list[OutFrame] | None) -> list[int] | None:
    return None if frames is None else [int(f.payload.rstrip(b".")) for f in frames]


def filled(first: int, last: int, **bounds: int) -> RecentEvents:
    recent = RecentEvents(bounds.get("max_events", 100), bounds.get("max_bytes", 10_000),
                          first - 1)  # fmt: skip
    for offset in range(first, last + 1):
        recent.add(offset, frame(offset))
    return recent


def test_inside_and_at_the_edges_it_serves_exactly_what_follows() -> None:
    recent = filled(1, 10)
    assert (recent.floor, recent.top) == (0, 10)
    assert offsets(recent.since(0)) == list(range(1, 11))  # the oldest edge: all of it
    assert offsets(recent.since(4)) == list(range(5, 11))
    assert offsets(recent.since(9)) == [10]
    assert offsets(recent.since(10)) == []  # caught up: nothing to send


def test_outside_it_serves_nothing() -> None:
    recent = filled(6, 10)
    assert recent.since(4) is None  # older than the oldest kept: the API's job
    assert offsets(recent.since(5)) == [6, 7, 8, 9, 10]
    assert recent.since(11) is None  # ahead of what was delivered


def test_eviction_by_count_drops_the_oldest() -> None:
    recent = filled(1, 10, max_events=3)
    assert len(recent) == 3
    assert (recent.floor, recent.top) == (7, 10)
    assert recent.since(6) is None
    assert offsets(recent.since(7)) == [8, 9, 10]


def test_eviction_by_bytes_drops_the_oldest() -> None:
    recent = filled(1, 10, max_bytes=25)  # frames of 10 bytes: two fit
    assert len(recent) == 2
    assert recent.size_bytes == 20
    assert recent.since(7) is None
    assert offsets(recent.since(8)) == [9, 10]


def test_a_frame_larger_than_the_bound_restarts_the_run_after_it() -> None:
    recent = filled(1, 3, max_bytes=25)
    recent.add(4, frame(4, size=30))
    assert (len(recent), recent.floor, recent.top) == (0, 4, 4)
    assert recent.since(3) is None
    assert offsets(recent.since(4)) == []
    recent.add(5, frame(5))
    assert offsets(recent.since(4)) == [5]


def test_an_offset_that_does_not_follow_restarts_the_run() -> None:
    recent = filled(1, 5)
    recent.add(9, frame(9))  # 6..8 never passed here
    assert (recent.floor, recent.top) == (8, 9)
    assert recent.since(5) is None
    assert offsets(recent.since(8)) == [9]


def test_reset_forgets_everything() -> None:
    recent = filled(1, 5)
    recent.reset(20)
    assert (len(recent), recent.size_bytes, recent.floor, recent.top) == (0, 0, 20, 20)
    assert recent.since(3) is None
    assert offsets(recent.since(20)) == []


def test_a_zero_sized_buffer_keeps_nothing() -> None:
    recent = filled(1, 5, max_events=0)
    assert len(recent) == 0
    assert recent.since(4) is None
    assert offsets(recent.since(5)) == []
