"""The page bench at a small size: its seed is the API's own rows and events, and a whole
run (seed, `livedesk standalone` or `livedesk dev` on the loopback PostgreSQL and RabbitMQ,
Chromium) yields every figure. No figure is judged."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.inbox_page.__main__ import render, run
from bench.inbox_page.servers import seed
from livedesk.api.db import make_engine


async def test_the_seed_is_the_apis_rows_with_their_events_in_offset_order(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'livedesk.db'}"
    seeded = await seed(url, conversations=9, messages=20)
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            events = (
                await connection.execute(
                    text('SELECT "offset", type FROM events WHERE account_id = :a ORDER BY 1'),
                    {"a": seeded.account_id},
                )
            ).all()
            newest = (
                await connection.execute(
                    text(
                        "SELECT id FROM conversations WHERE account_id = :a "
                        "ORDER BY last_activity_at DESC, id DESC LIMIT 1"
                    ),
                    {"a": seeded.account_id},
                )
            ).scalar_one()
            long_messages = (
                await connection.execute(
                    text("SELECT max(id), count(*) FROM messages WHERE conversation_id = :c"),
                    {"c": seeded.long_conversation_id},
                )
            ).one()
    finally:
        await engine.dispose()
    assert [offset for offset, _type in events] == list(range(1, seeded.offset + 1))
    kinds = [kind for _offset, kind in events]
    assert kinds.count("new_conversation") == 9
    assert kinds.count("new_message") == 9 + 20
    assert newest == seeded.long_conversation_id
    assert tuple(long_messages) == (seeded.last_message_id, 21)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("server", ["standalone", pytest.param("dev", marks=pytest.mark.slow)])
async def test_a_small_run_measures_every_figure(tmp_path: Path, server: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("the page bench needs Chromium: apt-get install chromium")
    (tmp_path / "data").mkdir()
    args = argparse.Namespace(
        server=server, conversations=30, messages=60, events=4, reloads=2, chromium=chromium
    )
    result = await run(args, tmp_path)
    assert len(result["reload_to_usable_ms"]) == 2
    assert all(ms > 0 for ms in result["reload_to_usable_ms"])
    assert result["sign_in_to_usable_ms"] > 0
    assert result["open_long_ms"] > 0
    assert result["apply_measures"] >= 4
    assert result["busy_per_event_ms"] > 0
    assert result["reload_busy_ms"] > 0
    assert all(size > 0 for size in map(os.path.getsize, result["artifacts"]))
    assert "apply a live event, p95" in render(result)
