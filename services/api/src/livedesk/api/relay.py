"""The outbox relay: publishes committed events to `livedesk.events`, in offset order per
account, and marks them published only once the broker confirmed them.

A round claims accounts that have unpublished events and reads their next events in offset
order (`RelayLog.claim`, the store's), publishes them with `Bus.publish_many` (pipelined,
with confirms), moves the accounts' cursors and commits. An account is claimed by one relay
at a time, so several API replicas never publish one event concurrently and never reorder
an account's events; a relay that finds an account claimed by another comes back for it a
moment later.

The relay is woken on every commit (no polling delay on the happy path) and by a periodic
sweep over all accounts, which publishes what a crash, an outage or another replica left.
A crash after the confirm and before the commit publishes those events again on the next
round: delivery is at-least-once, and consumers drop offsets they have already seen.
Not here: writing events and the claims' SQL (`store`), pruning them (`retention`), when a
commit returned (`commit_times`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from livedesk.api.commit_times import CommitTimes, EventKey
from livedesk.api.metrics import Metrics
from livedesk.api.store.base import RelayLog, Row, Store
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.errors import BusError
from livedesk.shared.settings import ApiSettings

log = logging.getLogger(__name__)

# What a round may fail with while the broker or the database is away (with the log's own).
ROUND_FAILURES: tuple[type[Exception], ...] = (BusError, TimeoutError, DBAPIError, OSError)

# How soon to come back for an account another replica had claimed: about one round of its.
CLAIMED_RETRY_S = 0.01
# Accounts claimed by one round; bounds the lock set and the size of the read.
MAX_ACCOUNTS_PER_ROUND = 200


@dataclass(frozen=True, slots=True)
class Round:
    published: int
    # Accounts to come back for: more was pending than one round takes, or another
    # replica had them claimed.
    again: frozenset[int]
    claimed_elsewhere: bool
    # A sweep that could not take every pending account in one round.
    sweep_again: bool = False


class Relay:
    def __init__(self, bus: Bus, settings: ApiSettings, metrics: Metrics):
        self._bus, self._settings, self._metrics = bus, settings, metrics
        self._dirty: set[int] = set()
        self._commit_times = CommitTimes()
        self._sweep_due = True  # the first round after start is a sweep: a crash's leftovers
        self._wake = asyncio.Event()
        self._wake.set()
        # What /readyz reports: did the last round reach the broker?
        self.broker_ok = False

    def notify(self, events: Collection[EventKey]) -> None:
        """Called right after a commit that emitted `events` (account, offset)."""
        self._commit_times.record(events, time.time())
        self._dirty.update(account for account, _ in events)
        self._wake.set()

    async def run(self, store: Store) -> None:
        """Publish from `store`'s log until cancelled."""
        async with store.relay_log() as events, asyncio.TaskGroup() as group:
            group.create_task(self._sweeper())
            await self._publisher(events)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self._settings.relay_sweep_interval_s)
            self._sweep_due = True
            self._wake.set()

    async def _publisher(self, events: RelayLog) -> None:
        failures = ROUND_FAILURES + events.failures
        while True:
            await self._wake.wait()
            self._wake.clear()
            sweep, accounts = self._sweep_due, self._dirty
            self._sweep_due, self._dirty = False, set()
            try:
                done = await self.publish_round(events, None if sweep else accounts)
            except failures as error:
                # The broker or the database is away: keep what is pending for the sweep,
                # which retries once per interval, and keep accepting writes meanwhile.
                if isinstance(error, BusError | TimeoutError):
                    self.broker_ok = False
                log.warning("relay round failed, retrying on the next sweep: %s", error)
                self._dirty |= accounts
                continue
            self.broker_ok = True
            if done.sweep_again:
                self._sweep_due = True
                self._wake.set()
            if done.again:
                self._dirty |= done.again
                if done.claimed_elsewhere and not done.published:
                    await asyncio.sleep(CLAIMED_RETRY_S)
                self._wake.set()

    async def publish_round(self, events: RelayLog, accounts: set[int] | None) -> Round:
        """Publish what is pending for `accounts` (all accounts when None); one transaction."""
        if accounts is not None and not accounts:
            return Round(0, frozenset(), claimed_elsewhere=False)
        batch = self._settings.relay_batch_size
        async with events.claim(accounts, MAX_ACCOUNTS_PER_ROUND, batch) as claim:
            claim.published.update(await self._publish(claim.rows))
        claimed, rows = claim.accounts, claim.rows
        skipped = frozenset() if accounts is None else frozenset(accounts - claimed)
        if not claimed:
            return Round(0, skipped, claimed_elsewhere=bool(skipped))
        # An account that filled its share of the batch may have more pending.
        share = max(1, batch // len(claimed))
        more = frozenset(a for a, n in Counter(row[0] for row in rows).items() if n >= share)
        if accounts is None:
            again = bool(more) or len(claimed) >= MAX_ACCOUNTS_PER_ROUND
            return Round(len(rows), frozenset(), claimed_elsewhere=False, sweep_again=again)
        return Round(len(rows), skipped | more, claimed_elsewhere=bool(skipped))

    async def _publish(self, rows: Sequence[Row]) -> dict[int, int]:
        """Publish with confirms, in order; the last offset published per account."""
        if not rows:
            return {}
        messages = [
            Message(
                topology.EVENTS,
                routing.conversation_key(account, conversation, event_type),
                bytes(payload),
            )
            for account, _, conversation, event_type, _, payload in rows
        ]
        async with asyncio.timeout(self._settings.relay_publish_timeout_s):
            await self._bus.publish_many(messages)
        # Timed at the confirm, not after the cursor's commit: consumers have them now.
        confirmed = time.time()
        for account, offset, _, _, ts, _ in rows:
            written = ts.timestamp()
            committed = self._commit_times.pop((account, offset)) or written
            self._metrics.commit_to_publish.observe(max(0.0, confirmed - committed))
            self._metrics.written_to_publish.observe(max(0.0, confirmed - written))
        self._metrics.published.inc(len(rows))
        last: dict[int, int] = {}
        for account, offset, *_ in rows:
            last[account] = offset
        return last
