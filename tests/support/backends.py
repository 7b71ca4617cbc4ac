"""A real `livedesk api` process on a fresh database of either kind the API runs on:
PostgreSQL (the services) or SQLite (the standalone mode's database), migrated with
`livedesk migrate`, with one account made by `livedesk bootstrap` and its admin logged in,
and with either route for message posts: the fast one (`fast_messages`) or FastAPI's alone.

For tests that talk HTTP to the API as a client would (sync httpx, hypothesis, schemathesis).
Not here: in-process apps and their helpers (see `api`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest

from tests.support.api import (
    PASSWORD,
    ApiProcess,
    bearer,
    livedesk,
    livedesk_env,
    postgres_database,
    spread_account_ids,
)

Database = Literal["postgres", "sqlite"]
DATABASES: tuple[Database, ...] = ("postgres", "sqlite")
Route = Literal["fast", "plain"]
ROUTES: tuple[Route, ...] = ("fast", "plain")
# Every database with every message route, and their test ids ("postgres-fast", ...).
DEPLOYMENTS: tuple[tuple[Database, Route], ...] = tuple(
    (database, route) for database in DATABASES for route in ROUTES
)
DEPLOYMENT_IDS = [f"{database}-{route}" for database, route in DEPLOYMENTS]
# The same, as parameters: the plain route (the fast one's fallback, FastAPI all the way) runs
# in the longer suite, `-m slow`, which keeps the default run under its time budget.
DEPLOYMENT_PARAMS = [
    pytest.param(deployment, id=ident, marks=[pytest.mark.slow] if deployment[1] == "plain" else [])
    for deployment, ident in zip(DEPLOYMENTS, DEPLOYMENT_IDS, strict=True)
]

# The README's own example address, on a reserved test domain.
ADMIN_EMAIL = "admin@acme.test"


def route_env(route: Route) -> dict[str, str]:
    """What puts `livedesk api` on `route` for message posts."""
    return {"LIVEDESK_API__FAST_MESSAGE_ROUTE": "true" if route == "fast" else "false"}


@dataclass(frozen=True)
class RunningApi:
    database: Database
    route: Route
    url: str
    database_url: str
    account_id: int
    admin_id: int
    admin_token: str
    process: ApiProcess
    env: dict[str, str]  # what `livedesk <command>` needs to work on this database

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_token)


@contextmanager
def running_api(
    database: Database,
    postgres_url: str,
    amqp_url: str,
    data_dir: Path,
    log_path: Path | None = None,
    route: Route = "fast",
) -> Iterator[RunningApi]:
    """`log_path`: where the process's log (its stderr) goes; else the test's stderr."""
    with _database_url(database, postgres_url, data_dir) as database_url:
        env = livedesk_env(
            {
                "LIVEDESK_DATABASE_URL": database_url,
                "LIVEDESK_AMQP_URL": amqp_url,
                "LIVEDESK_DATA_DIR": str(data_dir),
                **route_env(route),
            }
        )
        # Ids of its own on PostgreSQL: tests on the shared broker bind `acct.<id>.#`.
        ids = migrated_with_an_admin(env, spread_ids=database == "postgres")
        with ApiProcess(env, log_path=log_path) as process:
            token = httpx.post(
                f"{process.url}/v1/auth/token",
                json={"email": ADMIN_EMAIL, "password": PASSWORD},
                timeout=10,
            )
            assert token.status_code == 200, token.text
            yield RunningApi(
                database,
                route,
                process.url,
                database_url,
                ids["account_id"],
                ids["user_id"],
                token.json()["access_token"],
                process,
                env,
            )


def migrated_with_an_admin(env: dict[str, str], *, spread_ids: bool = False) -> dict[str, int]:
    """`livedesk migrate`, then `livedesk bootstrap` of Acme and its admin on the database of
    `env`; the ids it printed. `spread_ids`: accounts get ids no other test's have."""
    migrated = livedesk("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    if spread_ids:
        asyncio.run(spread_account_ids(env["LIVEDESK_DATABASE_URL"]))
    made = livedesk(
        "bootstrap", "--account", "Acme", "--email", ADMIN_EMAIL, "--password", PASSWORD, env=env
    )
    assert made.returncode == 0, made.stderr
    ids: dict[str, int] = json.loads(made.stdout)
    return ids


@contextmanager
def _database_url(database: Database, postgres_url: str, data_dir: Path) -> Iterator[str]:
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir}/livedesk.db"
        return
    with postgres_database(postgres_url) as url:
        yield url
