"""`RabbitBus.connect` on an install where the fast path's check failed: it opens the plain
bus, says why once, and the bus works. The contract suite runs on that plain bus
(`rabbit-plain`); this holds that a failed check is what leads there."""

from __future__ import annotations

import asyncio
import logging

import pytest

from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit import RabbitBus, bus
from livedesk.shared.bus.rabbit.fast.bus import FastRabbitBus
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import EVENTS
from tests.support.buses import exclusive_queue

PROBLEM = "aiormq 7.3.0 is outside the releases checked (7.2.4 up to 7.3)"


async def test_a_failed_check_connects_the_plain_bus_and_says_why(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bus, "FAST_PATH_PROBLEM", PROBLEM)
    with caplog.at_level(logging.WARNING, logger=bus.__name__):
        async with (
            RabbitBus.connect(amqp_url, BusSettings(), name="fast-path-fallback") as opened,
            opened.subscribe(exclusive_queue((EVENTS, "fallback.#"))) as subscription,
        ):
            assert type(opened) is RabbitBus
            assert not isinstance(opened, FastRabbitBus)
            await opened.publish(Message(EVENTS, "fallback.x", b"through the plain path"))
            async with asyncio.timeout(10):
                delivery = await anext(subscription)
            assert delivery.body == b"through the plain path"
            await subscription.ack(delivery)
    warnings = [r.getMessage() for r in caplog.records if r.name == bus.__name__]
    assert warnings == [f"RabbitMQ bus on aio-pika's plain publish path: {PROBLEM}"]
