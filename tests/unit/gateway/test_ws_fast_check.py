"""The import-time check of what the gateway's fast socket path takes from `websockets`
(`ws_fast_check`), and the choice of path it feeds. Fakes stand in for a changed library: the
real one stays as it is."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
import websockets
import websockets.asyncio.connection

from livedesk.gateway import ws_fast_check

TESTED: dict[str, str | None] = {"websockets": "17.4"}


def real() -> dict[str, object]:
    return {"websockets": websockets}


def with_connection(connection: type) -> dict[str, object]:
    """`websockets` as installed, but with another asyncio Connection class."""
    asyncio_package = SimpleNamespace(
        **{**vars(websockets.asyncio), "connection": SimpleNamespace(Connection=connection)}
    )
    return {"websockets": SimpleNamespace(**{**vars(websockets), "asyncio": asyncio_package})}


class ConnectionWithoutPendingPings(websockets.asyncio.connection.Connection):
    """A later release, say, that keeps its pings elsewhere: our pongs would go unmatched."""

    def __init__(self, protocol: Any, loop: Any) -> None:
        self.protocol, self.loop = protocol, loop


class ConnectionWithoutSendData:
    """A later release whose connection no longer writes through `send_data`."""


def test_the_release_installed_here_passes() -> None:
    # Else every fast-writes test would quietly run on the plain path.
    assert ws_fast_check.unsupported(real(), TESTED) is None
    assert ws_fast_check.FAST_WRITES_PROBLEM is None


@pytest.mark.parametrize(
    ("connection", "problem"),
    [
        (
            ConnectionWithoutPendingPings,
            "websockets.asyncio.connection.Connection.__init__ no longer uses pending_pings",
        ),
        (
            ConnectionWithoutSendData,
            "websockets.asyncio.connection.Connection.send_data is gone",
        ),
    ],
)
def test_a_name_the_fast_path_uses_that_is_gone_is_named(connection: type, problem: str) -> None:
    found = ws_fast_check.unsupported(with_connection(connection), TESTED)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    ("release", "problem"),
    [
        ("17.5", "websockets 17.5 is outside the releases checked (17.4 up to 17.5)"),
        ("17.3.1", "websockets 17.3.1 is outside"),
        ("18.0b1", "websockets 18.0b1 is outside"),
        (None, "websockets is not installed"),
    ],
)
def test_a_release_outside_those_checked_is_named(release: str | None, problem: str) -> None:
    found = ws_fast_check.unsupported(real(), {"websockets": release})
    assert found is not None
    assert problem in found


def test_later_patch_releases_of_the_one_checked_pass() -> None:
    assert ws_fast_check.unsupported(real(), {"websockets": "17.4.2"}) is None


def test_a_failed_check_serves_sockets_on_the_plain_path_and_says_why_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problem = ws_fast_check.unsupported(with_connection(ConnectionWithoutSendData), TESTED)
    assert problem is not None
    with caplog.at_level(logging.WARNING):
        assert not ws_fast_check.fast_writes_chosen(True, problem)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"gateway sockets on websockets' public API only: {problem}")
    ]


def test_the_setting_picks_the_path_when_nothing_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert ws_fast_check.fast_writes_chosen(True, None)
        assert not ws_fast_check.fast_writes_chosen(False, None)
        assert not ws_fast_check.fast_writes_chosen(False, "websockets 18.0 is outside")
    assert caplog.records == []
