"""The database engine, and the two kinds of transaction the API runs.

`write` is a plain transaction (READ COMMITTED on PostgreSQL): writers serialize on the rows
they lock, above all the account's offset counter. `snapshot` is a read transaction whose
statements all see one snapshot (REPEATABLE READ on PostgreSQL), so a list and the account's
offset read beside it describe the same moment.

SQLite (standalone mode, unit tests) gets one connection: transactions queue for it, so
SQLite's own locking never says "database is locked", and a read is a snapshot by itself.
Not here: the schema (`models`, `migrations`) and queries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(
            url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets a reader in another process (a migration, an operator) coexist.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    # pool_size: concurrent transactions in flight. Writers of one account queue on its
    # counter row anyway; more connections than that only add PostgreSQL backends.
    return create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False)


@asynccontextmanager
async def write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-write transaction: committed when the block ends, rolled back on error."""
    async with engine.begin() as connection:
        yield connection


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-only transaction in which every statement sees the same snapshot."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with connection.begin():
            yield connection
