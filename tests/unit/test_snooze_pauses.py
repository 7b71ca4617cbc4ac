"""How long the snoozes' waker sleeps: until the next snooze runs out, within its bounds,
not at all while a backlog remains, and longer after each failed round in a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livedesk.api.snooze import (
    FIRST_RETRY_S,
    LAST_RETRY_S,
    MIN_PAUSE_S,
    WAKE_BATCH,
    pause_s,
    retry_s,
)
from livedesk.api.store.base import Woken

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
CHECK_S = 1.0


def after(count: int, due_in_s: float | None) -> float:
    due = None if due_in_s is None else NOW + timedelta(seconds=due_in_s)
    return pause_s(Woken(count, due, NOW), CHECK_S)


@pytest.mark.parametrize(
    ("count", "due_in_s", "pause"),
    [
        (0, None, CHECK_S),  # nothing snoozed: look again after the interval
        (0, 0.3, 0.3),  # due sooner: sleep exactly until then
        (3, 0.3, 0.3),
        (0, 3600.0, CHECK_S),  # due much later: a snooze written meanwhile may end sooner
        (0, -5.0, MIN_PAUSE_S),  # due, but held by another replica's round: do not spin
        (0, 0.0, MIN_PAUSE_S),
        (WAKE_BATCH, 0.0, 0.0),  # a full batch: more may be due, go on at once
        (WAKE_BATCH, None, 0.0),
    ],
)
def test_the_pause_after_a_round(count: int, due_in_s: float | None, pause: float) -> None:
    assert after(count, due_in_s) == pytest.approx(pause)


def test_failed_rounds_wait_longer_each_time_up_to_the_last_pause() -> None:
    pauses = [retry_s(failures) for failures in range(1, 10)]
    assert pauses[0] == FIRST_RETRY_S
    assert pauses == sorted(pauses)
    assert pauses[1] == 2 * FIRST_RETRY_S
    assert max(pauses) == pauses[-1] == LAST_RETRY_S
