"""Which store an engine gets: the one place that asks which database is behind it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.store.base import Committed, Store, utc_now
from livedesk.api.store.outbox import Clock
from livedesk.api.store.postgres import PostgresStore
from livedesk.api.store.sqlite import SqliteStore

_STORES: dict[str, type[Store]] = {"postgresql": PostgresStore, "sqlite": SqliteStore}


def store_for(
    engine: AsyncEngine, committed: Committed | None = None, clock: Clock = utc_now
) -> Store:
    """The store on `engine`; `committed` is told what each write's commit emitted."""
    try:
        kind = _STORES[engine.dialect.name]
    except KeyError:
        raise ValueError(f"no store for {engine.dialect.name} databases") from None
    return kind(engine, committed, clock)
