"""Fixtures shared by the integration suites."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support.api import postgres_database, prepare_database


@pytest.fixture
def database(postgres_url: str) -> Iterator[tuple[str, list[int]]]:
    """A fresh, migrated PostgreSQL database with two accounts: its URL and their ids."""
    with postgres_database(postgres_url) as database_url:
        yield database_url, asyncio.run(prepare_database(database_url, 2))
