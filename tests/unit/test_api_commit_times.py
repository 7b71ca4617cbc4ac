"""`CommitTimes`: when each event's commit returned, taken once, bounded by dropping the
oldest."""

from __future__ import annotations

from livedesk.api.commit_times import CommitTimes


def test_an_event_is_taken_once_with_its_commit_time() -> None:
    times = CommitTimes()
    times.record([(1, 1), (1, 2)], at=10.0)
    times.record([(2, 1)], at=11.0)
    assert times.pop((1, 2)) == 10.0
    assert times.pop((1, 2)) is None
    assert times.pop((2, 1)) == 11.0
    assert times.pop((3, 1)) is None  # another replica's event, or one from before a restart
    assert len(times) == 1


def test_beyond_its_capacity_the_oldest_commits_are_dropped() -> None:
    times = CommitTimes(capacity=3)
    for offset in range(1, 6):
        times.record([(1, offset)], at=float(offset))
    assert len(times) == 3
    assert [times.pop((1, offset)) for offset in range(1, 6)] == [None, None, 3.0, 4.0, 5.0]
