"""The check of what the fast RabbitMQ path relies on (`rabbit.fast.compat`), and the choice of
path it feeds (`rabbit.bus.fast_path_chosen`). Fakes stand in for changed libraries: the real
ones stay as they are."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import aio_pika
import aiormq
import pamqp
import pytest

from livedesk.shared.bus.rabbit.bus import fast_path_chosen
from livedesk.shared.bus.rabbit.fast import compat
from livedesk.shared.settings import BusSettings

TESTED = {"aiormq": "7.2.4", "pamqp": "4.0.1", "aio-pika": "10.2.1"}


def real() -> dict[str, object]:
    return {"aiormq": aiormq, "pamqp": pamqp, "aio_pika": aio_pika}


def without(module: object, name: str) -> SimpleNamespace:
    """`module`'s attributes but `name`."""
    return SimpleNamespace(**{k: v for k, v in vars(module).items() if k != name})


class ChannelWithoutOwnCount(aiormq.Channel):
    """A later aiormq's channel, say, that no longer counts its publishes in delivery_tag."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.max_content_size = 0
        self.publisher_confirms = True
        self.on_consumer_cancel_callbacks = set()


def test_the_libraries_installed_here_pass() -> None:
    # Else every rabbit-fast test would quietly run on the plain path.
    assert compat.unsupported(real(), TESTED) is None
    assert compat.FAST_PATH_PROBLEM is None


@pytest.mark.parametrize(
    ("modules", "problem"),
    [
        ({"aiormq": without(aiormq, "TransportFactory")}, "aiormq.TransportFactory.create is gone"),
        (
            {"aiormq": SimpleNamespace(**{**vars(aiormq), "Channel": ChannelWithoutOwnCount})},
            "aiormq.Channel.__init__ no longer uses delivery_tag",
        ),
        ({"pamqp": SimpleNamespace(commands=None)}, "pamqp.commands.Basic.Deliver is gone"),
    ],
)
def test_a_name_the_fast_path_uses_that_is_gone_is_named(
    modules: dict[str, object], problem: str
) -> None:
    found = compat.unsupported({**real(), **modules}, TESTED)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    ("releases", "problem"),
    [
        ({"aiormq": "7.3.0"}, "aiormq 7.3.0 is outside the releases checked (7.2.4 up to 7.3)"),
        ({"aiormq": "7.2.3"}, "aiormq 7.2.3 is outside"),
        ({"aio-pika": "11.0.0b1"}, "aio-pika 11.0.0b1 is outside"),
        ({"pamqp": None}, "pamqp is not installed"),
    ],
)
def test_a_release_outside_those_checked_is_named(
    releases: dict[str, str | None], problem: str
) -> None:
    found = compat.unsupported(real(), {**TESTED, **releases})
    assert found is not None
    assert problem in found


def test_later_patch_releases_of_those_checked_pass() -> None:
    later = {"aiormq": "7.2.9", "pamqp": "4.0.3", "aio-pika": "10.9.0"}
    assert compat.unsupported(real(), later) is None


def test_a_failed_check_runs_the_bus_on_the_plain_path_and_says_why_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problem = compat.unsupported({**real(), "aiormq": without(aiormq, "TransportFactory")}, TESTED)
    assert problem is not None
    with caplog.at_level(logging.WARNING):
        assert not fast_path_chosen(BusSettings(), problem)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"RabbitMQ bus on aio-pika's plain publish path: {problem}")
    ]


def test_the_setting_picks_the_path_when_nothing_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert fast_path_chosen(BusSettings(), None)
        assert not fast_path_chosen(BusSettings(fast_path=False), None)
        assert not fast_path_chosen(BusSettings(fast_path=False), "aiormq 7.3.0 is outside")
    assert caplog.records == []
