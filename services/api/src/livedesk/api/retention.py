"""Event log retention: delete published events past the configured age or count.

Only events the relay has published are ever deleted, whatever their age. The highest
deleted offset is kept per account (`event_relay.pruned_offset`), so replay can tell a
client whose offset is older than the log that it must resync. Several replicas may prune
at once: deleting is idempotent and the floor only moves up. Not here: replay (routes).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from livedesk.api.models import AccountOffset, Event, EventRelay
from livedesk.shared.settings import ApiSettings

log = logging.getLogger(__name__)


async def prune(engine: AsyncEngine, settings: ApiSettings, now: datetime | None = None) -> int:
    """One pass over every account; returns how many events were deleted."""
    if not settings.event_retention_days and not settings.event_retention_count:
        return 0
    now = now or datetime.now(UTC)
    async with engine.connect() as connection:
        accounts = (
            await connection.execute(
                select(
                    col(EventRelay.account_id),
                    col(EventRelay.published_offset),
                    col(EventRelay.pruned_offset),
                    col(AccountOffset.last_offset),
                ).join(AccountOffset, col(AccountOffset.account_id) == col(EventRelay.account_id))
            )
        ).all()
        old: dict[int, int] = {}
        if settings.event_retention_days:
            cutoff = now - timedelta(days=settings.event_retention_days)
            old = {
                row[0]: row[1]
                for row in await connection.execute(
                    select(col(Event.account_id), func.max(col(Event.offset)))
                    .where(col(Event.ts) < cutoff)
                    .group_by(col(Event.account_id))
                )
            }
    deleted = 0
    for account, published, pruned, last in accounts:
        through = old.get(account, 0)
        if settings.event_retention_count:
            through = max(through, last - settings.event_retention_count)
        through = min(through, published)  # never what the broker has not confirmed
        if through <= pruned:
            continue
        async with engine.begin() as connection:
            result = await connection.execute(
                delete(Event).where(col(Event.account_id) == account, col(Event.offset) <= through)
            )
            await connection.execute(
                update(EventRelay)
                .where(
                    col(EventRelay.account_id) == account,
                    col(EventRelay.pruned_offset) < through,
                )
                .values(pruned_offset=through)
            )
        deleted += result.rowcount
    return deleted


async def run_retention(engine: AsyncEngine, settings: ApiSettings) -> None:
    while True:
        try:
            if deleted := await prune(engine, settings):
                log.info("retention deleted %d events", deleted)
        except DBAPIError as error:
            log.warning("retention pass failed: %s", error)
        await asyncio.sleep(settings.retention_interval_s)
