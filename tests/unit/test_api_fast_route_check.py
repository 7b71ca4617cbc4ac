"""The check of what the fast message route relies on in FastAPI (`fast_messages_compat`),
and the choice it feeds (`fast_messages.fast_route_chosen`, used by `app.create_app`).
Stand-ins play a changed FastAPI: the real one stays as it is."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI

from livedesk.api import fast_messages_compat as compat
from livedesk.api.app import build_context, create_app
from livedesk.api.db import make_engine
from livedesk.api.deps import ApiContext
from livedesk.api.fast_messages import FastMessagePost, fast_route_chosen
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.library_check import installed_releases
from livedesk.shared.settings import ApiSettings, Settings


def test_the_fastapi_installed_here_passes() -> None:
    # Else every "fast" test would quietly run on the FastAPI route.
    assert compat.routing_names_the_route()
    assert (
        compat.unsupported(
            installed_releases(compat.TESTED_RELEASES), compat.routing_names_the_route
        )
        is None
    )
    assert compat.FAST_ROUTE_PROBLEM is None


@pytest.mark.parametrize(
    ("release", "problem"),
    [
        ("0.166.0", "fastapi 0.166.0 is outside the releases checked (0.165.0 up to 0.166)"),
        ("0.164.9", "fastapi 0.164.9 is outside the releases checked (0.165.0 up to 0.166)"),
        (None, "fastapi is not installed"),
    ],
)
def test_a_release_outside_those_checked_is_named(release: str | None, problem: str) -> None:
    assert compat.unsupported({"fastapi": release}, lambda: True) == problem


def test_routing_that_no_longer_names_the_route_is_named() -> None:
    problem = compat.unsupported({"fastapi": "0.165.3"}, lambda: False)
    assert problem == 'FastAPI\'s routing no longer puts the matched route in scope["route"]'


def test_the_setting_and_the_check_choose(caplog: pytest.LogCaptureFixture) -> None:
    on, off = ApiSettings(), ApiSettings(fast_message_route=False)
    assert fast_route_chosen(on, None)
    assert not fast_route_chosen(off, None)
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert not fast_route_chosen(on, "fastapi 0.166.0 is outside the releases checked")
    assert [r.getMessage() for r in caplog.records] == [
        "message posts on the FastAPI route only: fastapi 0.166.0 is outside the releases checked"
    ]


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ApiContext]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/api.db", data_dir=tmp_path)
    engine = make_engine(settings.database_url)
    try:
        yield build_context(settings, MemoryBus(), engine)
    finally:
        await engine.dispose()


def fast_route_in(app: FastAPI) -> bool:
    return any(cast(object, m.cls) is FastMessagePost for m in app.user_middleware)


async def test_a_failed_check_leaves_posts_to_the_fastapi_route(
    context: ApiContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert fast_route_in(create_app(context))
    monkeypatch.setattr("livedesk.api.app.FAST_ROUTE_PROBLEM", "fastapi 0.166.0 is outside")
    with caplog.at_level(logging.WARNING):
        app = create_app(context)
    assert not fast_route_in(app)
    assert "message posts on the FastAPI route only: fastapi 0.166.0 is outside" in caplog.text
