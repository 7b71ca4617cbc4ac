"""Run the database migrations to head, on PostgreSQL or SQLite, from inside the package.

The Alembic scripts ship in `livedesk.api.migrations`, so an installed wheel can migrate
without an alembic.ini on disk. Not here: creating the database itself.
"""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.db import schema_change

SCRIPT_LOCATION = "livedesk.api:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision`, in one transaction."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    await run_migration(engine, upgrade)


async def run_migration(engine: AsyncEngine, step: Callable[[Connection], None]) -> None:
    """Run `step` (Alembic commands on the connection it gets) in one transaction."""
    async with schema_change(engine) as connection:
        await connection.run_sync(step)
