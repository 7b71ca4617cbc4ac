"""ResumeBuffer: a contiguous run of the last frames, bounded in count and bytes."""

from __future__ import annotations

from livedesk.gateway.resume_buffer import ResumeBuffer
from livedesk.gateway.sockets import OutFrame


def frame(offset: int, size: int = 10) -> OutFrame:
    return OutFrame(str(offset).encode().ljust(size, b"."))


def offsets(frames: list[OutFrame] | None) -> list[int] | None:
    return None if frames is None else [int(f.payload.rstrip(b".")) for f in frames]


def filled(first: int, last: int, **bounds: int) -> ResumeBuffer:
    buffer = ResumeBuffer(bounds.get("max_events", 100), bounds.get("max_bytes", 10_000),
                          first - 1)  # fmt: skip
    for offset in range(first, last + 1):
        buffer.add(offset, frame(offset))
    return buffer


def test_inside_and_at_the_edges_it_serves_exactly_what_follows() -> None:
    buffer = filled(1, 10)
    assert (buffer.floor, buffer.top) == (0, 10)
    assert offsets(buffer.since(0)) == list(range(1, 11))  # the oldest edge: all of it
    assert offsets(buffer.since(4)) == list(range(5, 11))
    assert offsets(buffer.since(9)) == [10]
    assert offsets(buffer.since(10)) == []  # caught up: nothing to send


def test_outside_it_serves_nothing() -> None:
    buffer = filled(6, 10)
    assert buffer.since(4) is None  # older than the oldest kept: the API's job
    assert offsets(buffer.since(5)) == [6, 7, 8, 9, 10]
    assert buffer.since(11) is None  # ahead of what was delivered


def test_eviction_by_count_drops_the_oldest() -> None:
    buffer = filled(1, 10, max_events=3)
    assert len(buffer) == 3
    assert (buffer.floor, buffer.top) == (7, 10)
    assert buffer.since(6) is None
    assert offsets(buffer.since(7)) == [8, 9, 10]


def test_eviction_by_bytes_drops_the_oldest() -> None:
    buffer = filled(1, 10, max_bytes=25)  # frames of 10 bytes: two fit
    assert len(buffer) == 2
    assert buffer.size_bytes == 20
    assert buffer.since(7) is None
    assert offsets(buffer.since(8)) == [9, 10]


def test_a_frame_larger_than_the_bound_restarts_the_run_after_it() -> None:
    buffer = filled(1, 3, max_bytes=25)
    buffer.add(4, frame(4, size=30))
    assert (len(buffer), buffer.floor, buffer.top) == (0, 4, 4)
    assert buffer.since(3) is None
    assert offsets(buffer.since(4)) == []
    buffer.add(5, frame(5))
    assert offsets(buffer.since(4)) == [5]


def test_an_offset_that_does_not_follow_restarts_the_run() -> None:
    buffer = filled(1, 5)
    buffer.add(9, frame(9))  # 6..8 never passed here
    assert (buffer.floor, buffer.top) == (8, 9)
    assert buffer.since(5) is None
    assert offsets(buffer.since(8)) == [9]


def test_reset_forgets_everything() -> None:
    buffer = filled(1, 5)
    buffer.reset(20)
    assert (len(buffer), buffer.size_bytes, buffer.floor, buffer.top) == (0, 0, 20, 20)
    assert buffer.since(3) is None
    assert offsets(buffer.since(20)) == []


def test_a_zero_sized_buffer_keeps_nothing() -> None:
    buffer = filled(1, 5, max_events=0)
    assert len(buffer) == 0
    assert buffer.since(4) is None
    assert offsets(buffer.since(5)) == []
