"""The store on PostgreSQL: reads in REPEATABLE READ snapshots, the message write as one
statement on a small asyncpg pool of its own (`pg_messages`), the relay's log on a
connection of its own (`pg_relay`), full-text search on GIN indexes (`pg_search`).

Writes other than messages run in READ COMMITTED transactions on the engine (`base.Store`):
writers serialize on the rows they lock, above all the account's offset counter.
Not here: the writes both databases share (`base`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from livedesk.api.schemas import MessageCreate
from livedesk.api.store.base import Committed, Posted, RelayLog, Store, utc_now
from livedesk.api.store.outbox import Clock
from livedesk.api.store.pg_messages import write_message
from livedesk.api.store.pg_relay import PgRelayLog
from livedesk.api.store.pg_search import PgSearchIndex
from livedesk.api.store.search import SearchIndex

# Connections of the message writes' pool. A write holds one for a single round trip, and
# the database has a couple of cores: more in flight only queue inside PostgreSQL.
MESSAGE_CONNECTIONS = 8


async def _keep_session(_connection: Any) -> None:
    """The pool's reset: nothing to undo (no SET, LISTEN, advisory lock or cursor here).

    asyncpg's default reset sends `RESET ALL`, `UNLISTEN *` and more on every release: a
    second round trip per write. It still rolls back an open transaction before this runs.
    """


class PostgresStore(Store):
    insert: ClassVar[Callable[..., Any]] = staticmethod(postgresql.insert)
    search: ClassVar[SearchIndex] = PgSearchIndex()

    def __init__(
        self, engine: AsyncEngine, committed: Committed | None = None, clock: Clock = utc_now
    ) -> None:
        super().__init__(engine, committed, clock)
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: Any = None
        self._ready = asyncio.Event()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with connection.begin():
                yield connection

    async def run(self) -> None:
        """Open the message writes' pool, serve until cancelled, then close it.

        Not the engine's pool: each write holds a connection for one round trip only, so a
        few connections carry them all, and SQLAlchemy's checkout costs more CPU than the
        write's statement.
        """
        async with asyncpg.create_pool(
            self._dsn, min_size=1, max_size=MESSAGE_CONNECTIONS, reset=_keep_session
        ) as pool:
            self._pool = pool
            self._ready.set()
            try:
                await asyncio.Event().wait()
            finally:
                self._ready.clear()
                self._pool = None

    async def _write_message(
        self,
        account_id: int,
        user_id: int,
        conversation_id: int,
        body: MessageCreate,
        created_at: datetime | None,
    ) -> Posted:
        now = self._clock()
        await self._ready.wait()
        async with self._pool.acquire() as driver:
            posted, offset = await write_message(
                driver, account_id, user_id, conversation_id, body, now, created_at or now
            )
        if offset is not None:
            self._committed([(account_id, offset)])
        return posted

    @asynccontextmanager
    async def relay_log(self) -> AsyncIterator[RelayLog]:
        engine = create_async_engine(self.engine.url, pool_size=1, max_overflow=0)
        try:
            yield PgRelayLog(engine)
        finally:
            await engine.dispose()
