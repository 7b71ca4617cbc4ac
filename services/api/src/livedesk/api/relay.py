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
On PostgreSQL a round is three round trips on the driver's own connection: BEGIN, one
statement that claims the accounts and reads their next events, and the cursors' UPDATE sent
together with COMMIT. That commit does not wait for its WAL flush (`synchronous_commit =
off`, for this transaction only): losing it in a database crash only means publishing those
events again, which consumers drop by offset, while waiting for the flush held the claims
and delayed the next round. Each await of a busy event loop costs a turn of every request
in flight, so the round's length, and with it commit-to-publish latency, goes with their
count.
Commit-to-publish is timed from the moment this process saw the event's commit return
(`commit_times`) to the broker's confirm; written-to-publish, from the event's `ts`.
SQLite (standalone, tests) runs the same round through SQLAlchemy.
Not here: writing events (`outbox`) and pruning them (`retention`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import col

from livedesk.api.commit_times import CommitTimes, EventKey
from livedesk.api.metrics import Metrics
from livedesk.api.models import AccountOffset, Event, EventRelay
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.errors import BusError
from livedesk.shared.settings import ApiSettings

log = logging.getLogger(__name__)

# What a round may fail with while the broker or the database is away. The PostgreSQL round
# talks to asyncpg directly, so the driver's errors arrive unwrapped.
ROUND_FAILURES: tuple[type[Exception], ...] = (
    BusError,
    TimeoutError,
    DBAPIError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)

# PostgreSQL: claim the accounts and read their next events in one statement. The batch
# is shared among the accounts claimed, so one busy account cannot starve the others.
_CLAIM_AND_READ = """
WITH claimed AS (
    SELECT r.account_id, r.published_offset
    FROM event_relay r JOIN account_offsets o ON o.account_id = r.account_id
    WHERE r.published_offset < o.last_offset
        AND ($1::bigint[] IS NULL OR r.account_id = ANY($1::bigint[]))
    ORDER BY r.account_id
    LIMIT $2
    -- SKIP LOCKED: an account another replica is publishing is left to it.
    FOR UPDATE OF r SKIP LOCKED
)
SELECT c.account_id, e."offset", e.conversation_id, e.type, e.ts, e.payload
FROM claimed c LEFT JOIN LATERAL (
    SELECT "offset", conversation_id, type, ts, payload FROM events
    WHERE events.account_id = c.account_id AND events."offset" > c.published_offset
    ORDER BY "offset"
    -- the round's batch, shared among the accounts claimed
    LIMIT greatest(1, $3::int / (SELECT count(*) FROM claimed))
) e ON true
ORDER BY c.account_id, e."offset"
"""

# Rows as the round reads them: account, offset, conversation, type, ts, payload.
Row = tuple[int, int, int, str, datetime, bytes]
# What a round claimed, what it read, and the accounts that may have more pending.
Claimed = tuple[set[int], list[Row], frozenset[int]]

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
        self._postgresql = engine.dialect.name == "postgresql"
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

    async def run(self) -> None:
        if not self._postgresql:
            await self._run()
            return
        # The relay's own connection, outside the request pool: under load every pooled
        # connection is taken, and requests returning one hand it straight to the next
        # request, so a relay queuing among them waited seconds between rounds while the
        # backlog grew. One connection suffices: rounds run one at a time.
        shared = self._engine
        self._engine = create_async_engine(shared.url, pool_size=1, max_overflow=0)
        try:
            await self._run()
        finally:
            await self._engine.dispose()
            self._engine = shared

    async def _run(self) -> None:
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
            except ROUND_FAILURES as error:
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
        round_ = self._round_postgresql if self._postgresql else self._round_generic
        claimed, rows, more = await round_(accounts)
        skipped = frozenset() if accounts is None else frozenset(accounts - claimed)
        if not claimed:
            return Round(0, skipped, claimed_elsewhere=bool(skipped))
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

    async def _round_postgresql(self, accounts: set[int] | None) -> Claimed:
        async with self._engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            try:
                await driver.execute("BEGIN; SET LOCAL synchronous_commit = off")
                found = await driver.fetch(
                    _CLAIM_AND_READ,
                    None if accounts is None else sorted(accounts),
                    MAX_ACCOUNTS_PER_ROUND,
                    self._settings.relay_batch_size,
                )
                claimed = {record[0] for record in found}
                rows: list[Row] = [tuple(record) for record in found if record[1] is not None]
                # An account that filled its share of the batch may have more pending.
                share = max(1, self._settings.relay_batch_size // max(1, len(claimed)))
                taken = Counter(row[0] for row in rows)
                more = frozenset(a for a, n in taken.items() if n >= share)
                last = await self._publish(rows)
                # Integers from the database, formatted: the UPDATE rides with the COMMIT
                # in one simple-protocol message.
                moves = ", ".join(f"({int(a)}, {int(o)})" for a, o in last.items())
                move = (
                    "UPDATE event_relay SET published_offset = moved.last "
                    f"FROM (VALUES {moves}) AS moved(account_id, last) "
                    "WHERE event_relay.account_id = moved.account_id; "
                    if moves
                    else ""
                )
                await driver.execute(move + "COMMIT")
            except BaseException:
                # Whatever happened (cancelled mid-round included), the connection may be
                # inside the transaction, holding the claims: close it, which ends both,
                # rather than hand it back to the pool.
                await connection.invalidate()
                raise
        return claimed, rows, more

    async def _round_generic(self, accounts: set[int] | None) -> Claimed:
        relay, offsets = EventRelay, AccountOffset
        claim = (
            select(col(relay.account_id), col(relay.published_offset))
            .join(offsets, col(offsets.account_id) == col(relay.account_id))
            .where(col(relay.published_offset) < col(offsets.last_offset))
            .order_by(col(relay.account_id))
            .limit(MAX_ACCOUNTS_PER_ROUND)
        )
        if accounts is not None:
            claim = claim.where(col(relay.account_id).in_(sorted(accounts)))
        async with self._engine.begin() as connection:
            claimed = {row[0] for row in await connection.execute(claim)}
            if not claimed:
                return claimed, [], frozenset()
            found = await connection.execute(
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
            rows: list[Row] = [tuple(row) for row in found]  # type: ignore[misc]
            last = await self._publish(rows)
            if last:
                await connection.execute(
                    update(relay)
                    .where(col(relay.account_id) == bindparam("account"))
                    .values(published_offset=bindparam("offset")),
                    [{"account": a, "offset": o} for a, o in last.items()],
                )
        full = len(rows) >= self._settings.relay_batch_size
        return claimed, rows, frozenset(claimed) if full else frozenset()
