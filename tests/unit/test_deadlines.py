"""The heap of due times the gateway's sweeper and presence keep: what is due comes out once,
earliest first, and what was cancelled or rescheduled does not pile up."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from livedesk.shared.deadlines import MIN_REBUILD, Deadlines

K = TypeVar("K", bound=Hashable)


def keys(popped: list[tuple[float, K]]) -> list[K]:
    return [key for _, key in popped]


def test_only_what_is_due_comes_out_earliest_first() -> None:
    deadlines: Deadlines[str] = Deadlines()
    for key, due in (("c", 3.0), ("a", 1.0), ("d", 9.0), ("b", 2.0)):
        deadlines.schedule(key, due)
    assert keys(deadlines.pop_due(0.5)) == []
    assert keys(deadlines.pop_due(3.0)) == ["a", "b", "c"]  # at the due time, not only after it
    assert keys(deadlines.pop_due(3.0)) == []  # popped once
    assert len(deadlines) == 1
    assert "d" in deadlines
    assert keys(deadlines.pop_due(100.0)) == ["d"]
    assert len(deadlines) == 0


def test_rescheduling_later_or_earlier_takes_the_latest_schedule_only() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("later", 1.0)
    deadlines.schedule("later", 5.0)  # a renewed token
    deadlines.schedule("sooner", 5.0)
    deadlines.schedule("sooner", 2.0)  # a renewal to a shorter-lived token
    assert keys(deadlines.pop_due(1.5)) == []
    assert keys(deadlines.pop_due(2.0)) == ["sooner"]
    assert keys(deadlines.pop_due(4.9)) == []
    assert keys(deadlines.pop_due(5.0)) == ["later"]
    assert keys(deadlines.pop_due(10.0)) == []


def test_rescheduling_to_the_same_time_adds_nothing() -> None:
    deadlines: Deadlines[str] = Deadlines()
    for _ in range(1000):
        deadlines.schedule("k", 1.0)  # the node does this after every frame of a socket
    assert len(deadlines._heap) == 1
    assert keys(deadlines.pop_due(1.0)) == ["k"]


def test_a_cancelled_key_never_comes_out() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("gone", 1.0)
    deadlines.schedule("here", 1.0)
    deadlines.cancel("gone")
    deadlines.cancel("never-scheduled")
    assert keys(deadlines.pop_due(2.0)) == ["here"]


def test_a_key_scheduled_again_after_it_came_out_comes_out_again() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("k", 1.0)
    assert keys(deadlines.pop_due(1.0)) == ["k"]
    deadlines.schedule("k", 1.0)
    assert keys(deadlines.pop_due(1.0)) == ["k"]


def test_cancelled_and_rescheduled_keys_do_not_pile_up() -> None:
    deadlines: Deadlines[int] = Deadlines()
    for key in range(10_000):  # sockets that came and went, each due in an hour
        deadlines.schedule(key, 3600.0 + key)
        deadlines.cancel(key)
    for key in range(10):
        for renewal in range(1000):  # tokens renewed many times
            deadlines.schedule(key, float(renewal))
    assert len(deadlines) == 10
    assert len(deadlines._heap) <= max(MIN_REBUILD, 2 * len(deadlines))
    assert keys(deadlines.pop_due(10_000.0)) == list(range(10))


def test_each_key_comes_out_with_the_time_it_was_due() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("a", 1.0)
    deadlines.schedule("b", 2.5)
    assert deadlines.pop_due(3.0) == [(1.0, "a"), (2.5, "b")]  # for the lateness it fired at


def test_a_limit_leaves_the_rest_due_for_the_next_call() -> None:
    deadlines: Deadlines[int] = Deadlines()
    for key in range(5):
        deadlines.schedule(key, float(key))
    assert keys(deadlines.pop_due(10.0, limit=2)) == [0, 1]
    assert keys(deadlines.pop_due(10.0)) == [2, 3, 4]


def test_next_due_skips_what_was_cancelled_or_rescheduled() -> None:
    deadlines: Deadlines[str] = Deadlines()
    assert deadlines.next_due() is None
    deadlines.schedule("gone", 1.0)
    deadlines.schedule("moved", 2.0)
    deadlines.schedule("stays", 3.0)
    deadlines.cancel("gone")
    deadlines.schedule("moved", 4.0)
    assert deadlines.next_due() == 3.0
