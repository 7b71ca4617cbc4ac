"""The transactional outbox: a write and its events commit together, with gapless offsets.

`Unit.emit()` appends one event to the account's log inside the write's transaction. It
takes the next offset by `UPDATE account_offsets ... RETURNING`, which locks the account's
counter row until commit: concurrent writers of one account queue there, so offsets are
handed out with no gap (a rolled-back write gives its offset back) and commit in offset
order. Everything else a write locks (the conversation row) is locked before `emit`, always
in that order, so two writers never wait on each other in a cycle; and `emit` comes last,
so the account's lock is held for the shortest time.

Not here: opening the transaction and telling the relay after its commit (`base.Store`),
publishing (`relay`), and the shape of each event (each write builds its own).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.commit_times import EventKey
from livedesk.api.models import AccountOffset, Event, EventRelay
from livedesk.shared.events import PersistentEvent, encode

# Builds the event once its offset and commit time are known.
EventFactory = Callable[[int, datetime], PersistentEvent]
Clock = Callable[[], datetime]


class Unit:
    """One write transaction: the connection to write with, the store's clock, and the
    events emitted so far."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self.connection = connection
        self.clock = clock
        self.events: list[EventKey] = []

    async def emit(self, account_id: int, make: EventFactory) -> PersistentEvent:
        offset = (
            await self.connection.execute(
                update(AccountOffset)
                .where(col(AccountOffset.account_id) == account_id)
                .values(last_offset=col(AccountOffset.last_offset) + 1)
                .returning(col(AccountOffset.last_offset))
            )
        ).scalar_one()
        event = make(offset, self.clock())
        await self.connection.execute(
            insert(Event).values(
                account_id=account_id,
                offset=offset,
                type=event.type,
                conversation_id=event.conversation_id,
                ts=event.ts,
                payload=encode(event),  # the bytes replay and the relay send, as they are
            )
        )
        self.events.append((account_id, offset))
        return event


async def open_account_log(connection: AsyncConnection, account_id: int) -> None:
    """Create the counter and relay rows of a new account, in the transaction creating it."""
    await connection.execute(insert(AccountOffset).values(account_id=account_id, last_offset=0))
    await connection.execute(
        insert(EventRelay).values(account_id=account_id, published_offset=0, pruned_offset=0)
    )
