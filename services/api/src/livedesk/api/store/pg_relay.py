"""The event log as a relay reads it on PostgreSQL: three round trips a round, on the
relay's own connection (outside the request pool, where under load a relay would queue
behind requests while the backlog grows).

BEGIN; one statement that claims the accounts (`FOR UPDATE OF event_relay SKIP LOCKED`: an
account another replica is publishing is left to it) and reads their next events; the
cursors' UPDATE sent with COMMIT. The lock is the relay's own row, not the writers' counter,
so writers never wait for the broker. The commit does not wait for its WAL flush
(`synchronous_commit = off`, this transaction only): losing it in a database crash only
means publishing those events again, which consumers drop by offset.
Not here: what a round publishes and when (`relay`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.store.base import Claim, RelayLog, Row

# Claim the accounts and read their next events in one statement, the batch shared among
# the accounts claimed, so that one busy account cannot starve the others.
_CLAIM_AND_READ = """
WITH claimed AS (
    SELECT r.account_id, r.published_offset
    FROM event_relay r JOIN account_offsets o ON o.account_id = r.account_id
    WHERE r.published_offset < o.last_offset
        AND ($1::bigint[] IS NULL OR r.account_id = ANY($1::bigint[]))
    ORDER BY r.account_id
    LIMIT $2
    FOR UPDATE OF r SKIP LOCKED
)
SELECT c.account_id, e."offset", e.conversation_id, e.type, e.ts, e.payload
FROM claimed c LEFT JOIN LATERAL (
    SELECT "offset", conversation_id, type, ts, payload FROM events
    WHERE events.account_id = c.account_id AND events."offset" > c.published_offset
    ORDER BY "offset"
    LIMIT greatest(1, $3::int / (SELECT count(*) FROM claimed))
) e ON true
ORDER BY c.account_id, e."offset"
"""


class PgRelayLog(RelayLog):
    # The round talks to asyncpg directly, so the driver's errors arrive unwrapped.
    failures: ClassVar[tuple[type[Exception], ...]] = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine  # one connection: rounds run one at a time

    @asynccontextmanager
    async def claim(
        self, accounts: Collection[int] | None, max_accounts: int, batch_size: int
    ) -> AsyncIterator[Claim]:
        async with self._engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            try:
                await driver.execute("BEGIN; SET LOCAL synchronous_commit = off")
                found = await driver.fetch(
                    _CLAIM_AND_READ,
                    None if accounts is None else sorted(accounts),
                    max_accounts,
                    batch_size,
                )
                rows: list[Row] = [tuple(record) for record in found if record[1] is not None]
                claim = Claim({record[0] for record in found}, rows)
                yield claim
                # Integers from the database, formatted: the UPDATE rides with the COMMIT
                # in one simple-protocol message.
                moves = ", ".join(f"({int(a)}, {int(o)})" for a, o in claim.published.items())
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
