"""Fixtures shared by the integration suites."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support.api import postgres_database, prepare_database
from tests.support.backends import DATABASES, Database, RunningApi, running_api


@pytest.fixture
def database(postgres_url: str) -> Iterator[tuple[str, list[int]]]:
    """A fresh, migrated PostgreSQL database with two accounts: its URL and their ids."""
    with postgres_database(postgres_url) as database_url:
        yield database_url, asyncio.run(prepare_database(database_url, 2))


@pytest.fixture(scope="module", params=DATABASES)
def running_api_process(
    request: pytest.FixtureRequest, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    """A real `livedesk api` process per module and database kind, with one account."""
    database: Database = request.param
    postgres_url = request.getfixturevalue("postgres_url") if database == "postgres" else ""
    with running_api(database, postgres_url, amqp_url, tmp_path_factory.mktemp("api")) as api:
        yield api
