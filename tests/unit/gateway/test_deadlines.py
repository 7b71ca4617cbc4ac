"""The sweeper's heap of due times: what is due comes out once, earliest first."""

from __future__ import annotations

from livedesk.gateway.deadlines import MIN_REBUILD, Deadlines


def test_only_what_is_due_comes_out_earliest_first() -> None:
    deadlines: Deadlines[str] = Deadlines()
    for key, due in (("c", 3.0), ("a", 1.0), ("d", 9.0), ("b", 2.0)):
        deadlines.schedule(key, due)
    assert deadlines.pop_due(0.5) == []
    assert deadlines.pop_due(3.0) == ["a", "b", "c"]  # at the due time, not only after it
    assert deadlines.pop_due(3.0) == []  # popped once
    assert len(deadlines) == 1
    assert "d" in deadlines
    assert deadlines.pop_due(100.0) == ["d"]
    assert len(deadlines) == 0


def test_rescheduling_later_or_earlier_takes_the_latest_schedule_only() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("later", 1.0)
    deadlines.schedule("later", 5.0)  # a renewed token
    deadlines.schedule("sooner", 5.0)
    deadlines.schedule("sooner", 2.0)  # a renewal to a shorter-lived token
    assert deadlines.pop_due(1.5) == []
    assert deadlines.pop_due(2.0) == ["sooner"]
    assert deadlines.pop_due(4.9) == []
    assert deadlines.pop_due(5.0) == ["later"]
    assert deadlines.pop_due(10.0) == []


def test_rescheduling_to_the_same_time_adds_nothing() -> None:
    deadlines: Deadlines[str] = Deadlines()
    for _ in range(1000):
        deadlines.schedule("k", 1.0)  # the node does this after every frame of a socket
    assert len(deadlines._heap) == 1
    assert deadlines.pop_due(1.0) == ["k"]


def test_a_cancelled_key_never_comes_out() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("gone", 1.0)
    deadlines.schedule("here", 1.0)
    deadlines.cancel("gone")
    deadlines.cancel("never-scheduled")
    assert deadlines.pop_due(2.0) == ["here"]


def test_a_key_scheduled_again_after_it_came_out_comes_out_again() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.schedule("k", 1.0)
    assert deadlines.pop_due(1.0) == ["k"]
    deadlines.schedule("k", 1.0)
    assert deadlines.pop_due(1.0) == ["k"]


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
    assert deadlines.pop_due(10_000.0) == list(range(10))
