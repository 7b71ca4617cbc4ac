"""The wake-up: reopens snoozed conversations when their time comes, in every API process.

Each round reopens what is due (`Store.wake_snoozed`: one transaction, the events through
the outbox like any write's) and learns when the next snooze runs out; the waker sleeps
until then, but never longer than `api.snooze_check_interval_s`, since a snooze written
since (here or on another replica) may end sooner. Replicas share the work safely: a round
skips the conversations another one holds. A database that is away is retried with a
growing pause, and the process keeps serving meanwhile.

Not here: what a wake-up writes (`store.conversations.wake_due`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from sqlalchemy.exc import DBAPIError

from livedesk.api.store.base import Store, Woken
from livedesk.api.store.errors import database_unreachable

log = logging.getLogger(__name__)

# Conversations one round reopens: bounds the round's transaction and locks; a backlog
# (a whole team's snoozes ending at nine) takes several rounds back to back.
WAKE_BATCH: Final = 100
# The shortest pause between rounds while something is due but held by another replica's
# round: long enough not to spin on it, short against the ~1 s a wake-up may be late.
MIN_PAUSE_S: Final = 0.05
# The pause after a failed round doubles from the first to the last, so that an outage
# costs a log line per pause and the wake-ups resume within the last of the database's
# return.
FIRST_RETRY_S: Final = 0.5
LAST_RETRY_S: Final = 10.0


def pause_s(round_: Woken, check_interval_s: float) -> float:
    """How long to sleep after `round_`: none while it took a full batch (more may be due),
    else until the next snooze runs out, within [MIN_PAUSE_S, check_interval_s]."""
    if round_.count >= WAKE_BATCH:
        return 0.0
    if round_.next_due is None:
        return check_interval_s
    until_due = (round_.next_due - round_.now).total_seconds()
    return min(check_interval_s, max(MIN_PAUSE_S, until_due))


def retry_s(failures: int) -> float:
    """The pause after the `failures`-th failed round in a row (1, 2, ...)."""
    return float(min(LAST_RETRY_S, FIRST_RETRY_S * 2 ** (failures - 1)))


class SnoozeWaker:
    def __init__(self, store: Store, check_interval_s: float) -> None:
        self._store, self._check_interval_s = store, check_interval_s

    async def run(self) -> None:
        """Wake conversations until cancelled."""
        failures = 0
        while True:
            try:
                woken = await self._store.wake_snoozed(WAKE_BATCH)
            except Exception as error:
                # The database is away or refused the round: wait and try again. Anything
                # else is a defect, and ends the API's background work (and so the process).
                if not (isinstance(error, DBAPIError) or database_unreachable(error)):
                    raise
                failures += 1
                pause = retry_s(failures)
                log.warning("snooze wake-up failed, retrying in %.1f s: %s", pause, error)
                await asyncio.sleep(pause)
                continue
            failures = 0
            if woken.count:
                log.info("snooze wake-up reopened %d conversations", woken.count)
            await asyncio.sleep(pause_s(woken, self._check_interval_s))
