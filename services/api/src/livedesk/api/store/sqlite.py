"""The store on SQLite (standalone mode, tests): everything on the engine's one connection
(see `db`), so transactions queue for it and each read is a snapshot by itself.

The message write is the general form of PostgreSQL's one statement, in an explicit
transaction: find the conversation, insert the message (ON CONFLICT DO NOTHING on the
client_id), move the conversation's last activity, emit. The relay's claims are the rows it
reads in its transaction: there is no other writer to skip. Not here: the writes both
databases share (`base`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col

from livedesk.api.models import AccountOffset, Conversation, Event, EventRelay, Message
from livedesk.api.schemas import MessageCreate, MessageOut
from livedesk.api.store.base import Claim, Posted, RelayLog, Row, Store, sender_type
from livedesk.api.store.errors import NotFound
from livedesk.api.store.search import SearchIndex
from livedesk.api.store.sqlite_search import SqliteSearchIndex
from livedesk.shared.events import MessageData, MessageKind, NewMessage


class SqliteStore(Store):
    insert: ClassVar[Callable[..., Any]] = staticmethod(sqlite.insert)
    search: ClassVar[SearchIndex] = SqliteSearchIndex()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection, connection.begin():
            yield connection

    @asynccontextmanager
    async def relay_log(self) -> AsyncIterator[RelayLog]:
        yield SqliteRelayLog(self.engine)

    async def run(self) -> None:
        """Nothing to hold: the engine's one connection is the store's."""

    async def _write_message(
        self,
        account_id: int,
        user_id: int,
        conversation_id: int,
        body: MessageCreate,
        created_at: datetime | None,
    ) -> Posted:
        async with self._write() as unit:
            connection = unit.connection
            contact_id = (
                await connection.execute(
                    select(col(Conversation.contact_id)).where(
                        col(Conversation.id) == conversation_id,
                        col(Conversation.account_id) == account_id,
                    )
                )
            ).scalar_one_or_none()
            if contact_id is None:
                raise NotFound("conversation", conversation_id)
            if body.client_id is not None and (
                first := await _by_client_id(connection, conversation_id, body.client_id)
            ):
                return Posted(first, created=False)
            now = unit.clock()
            insert = self.insert(Message).values(
                account_id=account_id,
                conversation_id=conversation_id,
                kind=body.kind.value,
                content=body.content,
                sender_type=sender_type(body.kind).value,
                sender_id=contact_id if body.kind is MessageKind.INCOMING else user_id,
                client_id=body.client_id,
                created_at=created_at or now,
            )
            row = (
                await connection.execute(
                    insert.on_conflict_do_nothing(
                        index_elements=["conversation_id", "client_id"]
                    ).returning(Message)
                )
            ).first()
            if row is None:  # a concurrent post of this client_id committed first
                assert body.client_id is not None
                first = await _by_client_id(connection, conversation_id, body.client_id)
                assert first is not None, "a conflict on client_id leaves the first message"
                return Posted(first, created=False)
            message = MessageOut.model_validate(row._mapping)
            await connection.execute(
                update(Conversation)
                .where(col(Conversation.id) == conversation_id)
                .values(last_activity_at=now)
            )
            data = MessageData.model_validate(message.model_dump(exclude={"account_id"}))
            await unit.emit(
                account_id,
                lambda offset, ts: NewMessage(
                    offset=offset,
                    account_id=account_id,
                    conversation_id=conversation_id,
                    ts=ts,
                    data=data,
                ),
            )
        return Posted(message, created=True)


async def _by_client_id(
    connection: AsyncConnection, conversation_id: int, client_id: str
) -> MessageOut | None:
    row = (
        await connection.execute(
            select(Message).where(
                col(Message.conversation_id) == conversation_id,
                col(Message.client_id) == client_id,
            )
        )
    ).first()
    return None if row is None else MessageOut.model_validate(row._mapping)


class SqliteRelayLog(RelayLog):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def claim(
        self, accounts: Collection[int] | None, max_accounts: int, batch_size: int
    ) -> AsyncIterator[Claim]:
        relay = EventRelay
        pending = (
            select(col(relay.account_id))
            .join(AccountOffset, col(AccountOffset.account_id) == col(relay.account_id))
            .where(col(relay.published_offset) < col(AccountOffset.last_offset))
            .order_by(col(relay.account_id))
            .limit(max_accounts)
        )
        if accounts is not None:
            pending = pending.where(col(relay.account_id).in_(sorted(accounts)))
        async with self._engine.begin() as connection:
            claimed = set((await connection.execute(pending)).scalars())
            rows = await _next_events(connection, claimed, batch_size) if claimed else []
            claim = Claim(claimed, rows)
            yield claim
            if claim.published:
                await connection.execute(
                    update(relay)
                    .where(col(relay.account_id) == bindparam("account"))
                    .values(published_offset=bindparam("offset")),
                    [{"account": a, "offset": o} for a, o in claim.published.items()],
                )


async def _next_events(
    connection: AsyncConnection, accounts: set[int], batch_size: int
) -> list[Row]:
    """Each account's next events after its cursor, in offset order, at most its share."""
    share = max(1, batch_size // len(accounts))
    position = func.row_number().over(
        partition_by=col(Event.account_id), order_by=col(Event.offset)
    )
    after = (
        select(
            col(Event.account_id),
            col(Event.offset),
            col(Event.conversation_id),
            col(Event.type),
            col(Event.ts),
            col(Event.payload),
            position.label("position"),
        )
        .join(EventRelay, col(EventRelay.account_id) == col(Event.account_id))
        .where(
            col(Event.account_id).in_(sorted(accounts)),
            col(Event.offset) > col(EventRelay.published_offset),
        )
        .subquery()
    )
    found = await connection.execute(
        select(
            after.c.account_id, after.c.offset, after.c.conversation_id, after.c.type, after.c.ts,
            after.c.payload,
        )
        .where(after.c.position <= share)
        .order_by(after.c.account_id, after.c.offset)
    )  # fmt: skip
    return [tuple(row) for row in found]
