from __future__ import annotations

import pytest

from livedesk.shared.settings import Settings


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgresql://app:pw@db-rw:5432/livedesk",
            "postgresql+asyncpg://app:pw@db-rw:5432/livedesk",
        ),
        ("postgres://app@db/livedesk", "postgresql+asyncpg://app@db/livedesk"),
        ("postgresql+asyncpg://app@db/livedesk", "postgresql+asyncpg://app@db/livedesk"),
        ("sqlite+aiosqlite:///data/livedesk.db", "sqlite+aiosqlite:///data/livedesk.db"),
    ],
)
def test_a_plain_postgresql_url_means_the_asyncpg_driver(given: str, used: str) -> None:
    assert Settings(database_url=given).database_url == used
