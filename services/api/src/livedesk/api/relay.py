"""The outbox relay: publishes committed events to `livedesk.events`, in offset order per
account, and marks them published only once the broker confirmed them.

A round claims accounts that have unpublished events by locking their `event_relay` rows
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), reads their next events in offset order, publishes
them with `Bus.publish_many` (pipelined, with confirms), moves the accounts' cursors and
commits. An account is claimed by one replica at a time, so several API replicas never
publish one event concurrently and never reorder an account's events; a replica that finds
an account claimed by another comes back for it a moment later. The lock is on the relay's
own row, not the writers' counter, so writers never wait for the broker.

The relay is woken on every commit (no polling delay on the happy path) and by a periodic
sweep over all accounts, which publishes what a crash, an outage or another replica left.
A crash after the confirm and before the commit publishes those events again on the next
round: delivery is at-least-once, and consumers drop offsets they have already seen.
Not here: writing events (`outbox`) and pruning them (`retention`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from livedesk.api.metrics import Metrics
from livedesk.api.models import AccountOffset, Event, EventRelay
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.errors import BusError
from livedesk.shared.settings import ApiSettings

log = logging.getLogger(__name__)

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
    def __init__(self, engine: AsyncEngine, bus: Bus, settings: ApiSettings, metrics: Metrics):
        self._engine, self._bus, self._settings, self._metrics = engine, bus, settings, metrics
        self._dirty: set[int] = set()
        self._sweep_due = True  # the first round after start is a sweep: a crash's leftovers
        self._wake = asyncio.Event()
        self._wake.set()
        # What /readyz reports: did the last round reach the broker?
        self.broker_ok = False

    def notify(self, accounts: set[int]) -> None:
        """Called right after a commit that emitted events for `accounts`."""
        self._dirty |= accounts
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._sweeper())
            await self._publisher()

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self._settings.relay_sweep_interval_s)
            self._sweep_due = True
            self._wake.set()

    async def _publisher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            sweep, accounts = self._sweep_due, self._dirty
            self._sweep_due, self._dirty = False, set()
            try:
                done = await self.publish_round(None if sweep else accounts)
            except (BusError, TimeoutError, DBAPIError, OSError) as error:
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

    async def publish_round(self, accounts: set[int] | None) -> Round:
        """Publish what is pending for `accounts` (all accounts when None); one transaction."""
        if accounts is not None and not accounts:
            return Round(0, frozenset(), claimed_elsewhere=False)
        relay, offsets = EventRelay, AccountOffset
        claim = (
            select(col(relay.account_id), col(relay.published_offset))
            .join(offsets, col(offsets.account_id) == col(relay.account_id))
            .where(col(relay.published_offset) < col(offsets.last_offset))
            .order_by(col(relay.account_id))
            .limit(MAX_ACCOUNTS_PER_ROUND)
            # SKIP LOCKED: an account another replica is publishing is left to it.
            .with_for_update(of=relay, skip_locked=True)
        )
        if accounts is not None:
            claim = claim.where(col(relay.account_id).in_(sorted(accounts)))
        async with self._engine.begin() as connection:
            claimed = {row[0]: row[1] for row in await connection.execute(claim)}
            skipped = frozenset() if accounts is None else frozenset(accounts - claimed.keys())
            if not claimed:
                return Round(0, skipped, claimed_elsewhere=bool(skipped))
            rows = (
                await connection.execute(
                    select(
                        col(Event.account_id),
                        col(Event.offset),
                        col(Event.conversation_id),
                        col(Event.type),
                        col(Event.ts),
                        col(Event.payload),
                    )
                    .join(relay, col(relay.account_id) == col(Event.account_id))
                    .where(
                        col(Event.account_id).in_(sorted(claimed)),
                        col(Event.offset) > col(relay.published_offset),
                    )
                    .order_by(col(Event.account_id), col(Event.offset))
                    .limit(self._settings.relay_batch_size)
                )
            ).all()
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
            last: dict[int, int] = {}
            for account, offset, *_ in rows:
                last[account] = offset
            if last:
                await connection.execute(
                    update(relay)
                    .where(col(relay.account_id) == bindparam("account"))
                    .values(published_offset=bindparam("offset")),
                    [{"account": a, "offset": o} for a, o in last.items()],
                )
        now = time.time()
        for row in rows:
            self._metrics.commit_to_publish.observe(max(0.0, now - row[4].timestamp()))
        self._metrics.published.inc(len(rows))
        full = len(rows) >= self._settings.relay_batch_size
        if accounts is None:
            more = full or len(claimed) >= MAX_ACCOUNTS_PER_ROUND
            return Round(len(rows), frozenset(), claimed_elsewhere=False, sweep_again=more)
        again = skipped | (frozenset(claimed) if full else frozenset())
        return Round(len(rows), again, claimed_elsewhere=bool(skipped))
