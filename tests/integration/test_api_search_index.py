"""The search indexes themselves, on PostgreSQL and SQLite: migration `0004_inbox_search`
indexes the rows already there, SQLite's triggers follow later edits and deletions, the
migration goes down and up again, and PostgreSQL's queries are the ones its GIN indexes
serve (an expression that drifted from the migration's would not be).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col

from livedesk.api.accounts import create_account
from livedesk.api.db import make_engine
from livedesk.api.migrate import alembic_config, migrate, run_migration
from livedesk.api.models import Contact, Conversation, Inbox, Message
from livedesk.api.passwords import Passwords
from livedesk.api.search_terms import search_terms
from livedesk.api.store.choice import store_for
from livedesk.api.store.pg_search import PgSearchIndex
from livedesk.api.store.search import SearchIndex
from livedesk.shared.bus.memory import MemoryBus
from tests.support.api import PASSWORD, api_settings, in_process_api, login

BEFORE = "0003_email_per_account"


async def _insert(connection: AsyncConnection, table: Any, **values: Any) -> int:
    """A row with only these columns: the models describe the newest schema, and later
    migrations add columns (with defaults) that the old one has not."""
    old = sa.table(table.__tablename__, sa.column("id"), *(sa.column(name) for name in values))
    ident: int = (
        await connection.execute(insert(old).values(**values).returning(old.c.id))
    ).scalar_one()
    return ident


async def _seed(engine: AsyncEngine) -> tuple[int, int, int]:
    """An account with a contact, a conversation and a message: its id, the contact's and
    the message's."""
    made = await create_account(
        engine,
        Passwords(time_cost=1, memory_kib=8),
        name="Old",
        email="admin@old.example.org",
        password=PASSWORD,
    )
    now = datetime.now(UTC)
    account = made.account_id
    async with engine.begin() as connection:
        inbox = await _insert(connection, Inbox, account_id=account, name="web", created_at=now)
        contact = await _insert(
            connection,
            Contact,
            account_id=account,
            name="Olga Oldfield",
            email="olga@before.example",
            created_at=now,
        )
        conversation = await _insert(
            connection,
            Conversation,
            account_id=account,
            inbox_id=inbox,
            contact_id=contact,
            status="open",
            version=1,
            created_at=now,
            last_activity_at=now,
        )
        message = await _insert(
            connection,
            Message,
            account_id=account,
            conversation_id=conversation,
            kind="incoming",
            content="My warranty claim was written before search existed",
            sender_type="contact",
            sender_id=contact,
            created_at=now,
        )
    return account, contact, message


async def _found(engine: AsyncEngine, account: int, q: str) -> tuple[set[int], set[int]]:
    """The ids of the account's messages and contacts that match `q`, as the store finds them."""
    index: SearchIndex = store_for(engine).search
    terms = search_terms(q)
    async with engine.connect() as connection:
        messages = await connection.execute(index.matching_messages(account, terms))
        contacts = await connection.execute(index.matching_contacts(account, terms))
        return {row[1] for row in messages}, {row[0] for row in contacts}


async def test_migration_indexes_old_rows_follows_edits_and_reverts(
    database_url: str, tmp_path: Path
) -> None:
    url = database_url
    engine = make_engine(url)
    try:
        await migrate(engine, BEFORE)
        account, contact, message = await _seed(engine)
        await migrate(engine)
        assert await _found(engine, account, "warra") == ({message}, set())
        assert await _found(engine, account, "oldfie") == (set(), {contact})
        assert await _found(engine, account, "before") == ({message}, {contact})
        # Edits and deletions reach the index (SQLite: by the triggers).
        async with engine.begin() as connection:
            await connection.execute(
                update(Contact).where(col(Contact.id) == contact).values(name="Olga Newman")
            )
            await connection.execute(delete(Message).where(col(Message.id) == message))
        assert await _found(engine, account, "oldfield") == (set(), set())
        assert await _found(engine, account, "newma") == (set(), {contact})
        assert await _found(engine, account, "warranty") == (set(), set())

        def down_and_up(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), BEFORE)
            command.upgrade(alembic_config(connection), "head")

        await run_migration(engine, down_and_up)
        assert await _found(engine, account, "newman") == (set(), {contact})
    finally:
        await engine.dispose()
    # And the API finds through it what was there before the migration.
    async with in_process_api(api_settings(url, tmp_path), MemoryBus()) as app:
        headers = {"Authorization": f"Bearer {await login(app.client, 'admin@old.example.org')}"}
        page = await app.client.get("/v1/search", params={"q": "olga"}, headers=headers)
        assert page.status_code == 200, page.text
        assert [h["conversation"]["contact"]["id"] for h in page.json()["items"]] == [contact]


async def test_postgres_search_is_served_by_its_gin_indexes(
    database: tuple[str, list[int]],
) -> None:
    url, _accounts = database
    index = PgSearchIndex()
    terms = search_terms('"late delivery" refu')
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            # Tables this small are cheaper to scan, or to read by account; the question is
            # whether the indexes serve these conditions at all.
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            for query, name in (
                (select(col(Message.id)).where(index.message_match(terms)), "ix_messages_search"),
                (select(col(Contact.id)).where(index.contact_match(terms)), "ix_contacts_search"),
            ):
                sql = query.compile(engine, compile_kwargs={"literal_binds": True})
                plan = (await connection.execute(text(f"EXPLAIN {sql}"))).scalars().all()
                assert any(name in line for line in plan), plan
    finally:
        await engine.dispose()
