"""Fixtures shared by the integration suites."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import postgres_database, prepare_database
from tests.support.backends import (
    DATABASES,
    DEPLOYMENT_PARAMS,
    Database,
    Route,
    RunningApi,
    running_api,
)


@pytest.fixture
def database(postgres_url: str) -> Iterator[tuple[str, list[int]]]:
    """A fresh, migrated PostgreSQL database with two accounts: its URL and their ids."""
    with postgres_database(postgres_url) as database_url:
        yield database_url, asyncio.run(prepare_database(database_url, 2))


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database, not yet migrated, on PostgreSQL and on SQLite: its URL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/livedesk.db"
        return
    with postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(params=DATABASES)
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """`database`, on PostgreSQL and on SQLite."""
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp_path}/livedesk.db"
        yield database_url, asyncio.run(prepare_database(database_url, 2))
        return
    yield request.getfixturevalue("database")


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def running_api_process(
    request: pytest.FixtureRequest, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    """A real `livedesk api` process per module, database kind and message route, with one
    account."""
    database: Database
    route: Route
    database, route = request.param
    postgres_url = request.getfixturevalue("postgres_url") if database == "postgres" else ""
    data_dir = tmp_path_factory.mktemp("api")
    with running_api(database, postgres_url, amqp_url, data_dir, route=route) as api:
        yield api
