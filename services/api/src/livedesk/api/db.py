"""The database engine for a URL: PostgreSQL's connection pool, or SQLite's one connection.

SQLite (standalone mode, unit tests) gets one connection: transactions queue for it, so
SQLite's own locking never says "database is locked", and a read is a snapshot by itself.
Schema changes get their own transaction here (`schema_change`), since how to change a
table differs by database. Not here: other transactions, and everything read or written
through them (`store`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from livedesk.shared.errors import LivedeskError


def make_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    if _is_sqlite(url):
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


class BrokenReferences(LivedeskError):
    """A schema change on SQLite left rows pointing at rows that are no longer there."""


@asynccontextmanager
async def schema_change(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction for changing the schema (migrations).

    SQLite alters a table by copying it and dropping the original, which its foreign keys
    refuse while other tables' rows point at it. So, as SQLite's own procedure for altering
    a table says, they are off for the change and every reference is checked before the
    commit. The PRAGMA has no effect inside a transaction: it is set before and after.
    """
    async with engine.connect() as connection:
        if not _is_sqlite(str(engine.url)):
            async with connection.begin():
                yield connection
            return
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.commit()
        try:
            async with connection.begin():
                yield connection
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise BrokenReferences(f"rows with broken references: {broken[:5]}")
        finally:
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            await connection.commit()


def make_database_directory(url: str) -> None:
    """Create the directory a database file goes in (SQLite), before migrating creates it."""
    if _is_sqlite(url) and (database := make_url(url).database) and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")
