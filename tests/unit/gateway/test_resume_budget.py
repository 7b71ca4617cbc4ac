"""The node's budget over every account's resume buffer: least recently used give way."""

from __future__ import annotations

from livedesk.gateway.metrics import Metrics
from livedesk.gateway.resume_budget import ResumeBudget
from livedesk.gateway.resume_buffer import ResumeBuffer
from livedesk.gateway.sockets import OutFrame


def frame(offset: int) -> OutFrame:
    return OutFrame(str(offset).encode().ljust(10, b"."))  # 10 bytes each


def buffers(budget: ResumeBudget, count: int, *, max_bytes: int = 1000) -> list[ResumeBuffer]:
    return [ResumeBuffer(100, max_bytes, budget=budget) for _ in range(count)]


def offsets(frames: list[OutFrame] | None) -> list[int] | None:
    return None if frames is None else [int(f.payload.rstrip(b".")) for f in frames]


def fill(buffer: ResumeBuffer, last: int) -> None:
    for offset in range(buffer.top + 1, last + 1):
        buffer.add(offset, frame(offset))


def evictions(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("livedesk_gateway_resume_buffer_evictions_total")
    return value or 0.0


def held(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("livedesk_gateway_resume_buffer_bytes")


def test_over_the_budget_the_least_recently_used_buffer_is_emptied() -> None:
    metrics = Metrics()
    budget = ResumeBudget(50, metrics)
    first, second, third = buffers(budget, 3)
    fill(first, 2)
    fill(second, 2)
    fill(third, 1)
    assert (budget.bytes, evictions(metrics)) == (50, 0)  # at the bound, not over it
    fill(third, 2)
    assert (budget.bytes, evictions(metrics)) == (40, 1)
    assert held(metrics) == 40
    assert first.since(0) is None  # its resumes go to the API
    assert first.since(2) == []  # one caught up still joins from memory
    assert second.since(0) is not None
    assert third.since(0) is not None
    fill(first, 3)  # it goes on keeping what follows
    assert offsets(first.since(2)) == [3]


def test_a_buffer_resumed_from_gives_way_after_the_others() -> None:
    metrics = Metrics()
    budget = ResumeBudget(50, metrics)
    first, second, third = buffers(budget, 3)
    fill(first, 2)
    fill(second, 2)
    assert offsets(first.since(1)) == [2]  # used: now the most recent
    fill(third, 2)
    assert first.since(0) is not None
    assert second.since(0) is None


def test_a_buffer_alone_over_the_budget_keeps_its_newest_frames() -> None:
    metrics = Metrics()
    budget = ResumeBudget(25, metrics)
    (only,) = buffers(budget, 1)
    fill(only, 5)
    assert budget.bytes == only.size_bytes == 20
    assert offsets(only.since(3)) == [4, 5]
    assert only.since(2) is None


def test_the_count_follows_each_buffers_own_bounds_resets_and_departures() -> None:
    metrics = Metrics()
    budget = ResumeBudget(1000, metrics)
    bounded, other = buffers(budget, 2, max_bytes=25)
    fill(bounded, 5)  # its own bound keeps two frames
    fill(other, 1)
    assert budget.bytes == 30
    bounded.reset(9)
    assert budget.bytes == 10
    budget.forget(other)
    assert budget.bytes == 0
    assert held(metrics) == 0
    assert evictions(metrics) == 0
