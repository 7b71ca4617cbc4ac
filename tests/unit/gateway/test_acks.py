"""The node queue's acks: one `multiple` ack per window, at once past the threshold, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from livedesk.gateway.acks import Acks
from livedesk.gateway.clock import Clock
from livedesk.shared.bus.base import Delivery, Subscription
from tests.support.clock import VirtualClock, settle

HOUR_S = 3600.0  # a timer that does not fire unless a test moves its clock


def delivery(tag: int) -> Delivery:
    return Delivery(exchange="x", routing_key="k", body=b"", redelivered=False, handle=tag)


class RecordingSubscription(Subscription):
    def __init__(self, failures: int = 0) -> None:
        super().__init__("q")
        self.acked: list[tuple[object, bool]] = []
        self._failures = failures

    async def bind(self, exchange: str, pattern: str) -> None:
        raise NotImplementedError

    async def unbind(self, exchange: str, pattern: str) -> None:
        raise NotImplementedError

    async def ack(self, delivery: Delivery, *, multiple: bool = False) -> None:
        await asyncio.sleep(0)  # a real ack awaits its write: later ones must not overtake
        if self._failures:
            self._failures -= 1
            raise RuntimeError("channel went away")
        self.acked.append((delivery.handle, multiple))

    async def reject(self, delivery: Delivery, *, requeue: bool = True) -> None:
        raise NotImplementedError


@asynccontextmanager
async def acks_on(
    subscription: Subscription, *, delay_s: float, at_once: int, clock: Clock | None = None
) -> AsyncIterator[Acks]:
    async with asyncio.TaskGroup() as tasks:
        acks = Acks(subscription, tasks, clock or VirtualClock(), delay_s=delay_s, at_once=at_once)
        try:
            yield acks
        finally:
            acks.close()


async def test_deliveries_handled_one_by_one_are_acked_together_after_the_delay() -> None:
    subscription = RecordingSubscription()
    clock = VirtualClock()
    async with acks_on(subscription, delay_s=0.05, at_once=100, clock=clock) as acks:
        for tag in (1, 2, 3):
            acks.handled(delivery(tag))
        await clock.advance(0.049)
        assert subscription.acked == []  # held for the window, not one ack per delivery
        assert acks.pending == 3
        await clock.advance(0.001)
        assert subscription.acked == [(3, True)]
        assert acks.pending == 0


async def test_the_threshold_acks_at_once_without_waiting_for_the_timer() -> None:
    subscription = RecordingSubscription()
    async with acks_on(subscription, delay_s=HOUR_S, at_once=4) as acks:
        acks.handled(delivery(1))
        acks.handled(delivery(3), count=2)
        await settle()
        assert subscription.acked == []
        acks.handled(delivery(4))
        await settle()
        assert subscription.acked == [(4, True)]
        acks.handled(delivery(5))  # a new window starts: its timer is the hour
        await settle()
    assert subscription.acked == [(4, True)]


async def test_acks_go_out_in_the_order_of_their_tags() -> None:
    subscription = RecordingSubscription()
    async with acks_on(subscription, delay_s=HOUR_S, at_once=1) as acks:
        for tag in range(1, 11):
            acks.handled(delivery(tag))
    assert subscription.acked == [(tag, True) for tag in range(1, 11)]


async def test_close_stops_a_pending_ack() -> None:
    subscription = RecordingSubscription()
    clock = VirtualClock()
    async with acks_on(subscription, delay_s=0.01, at_once=100, clock=clock) as acks:
        acks.handled(delivery(1))
        acks.close()
        await clock.advance(1.0)
    assert subscription.acked == []


async def test_a_failed_ack_is_logged_and_the_next_one_covers_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscription = RecordingSubscription(failures=1)
    async with acks_on(subscription, delay_s=HOUR_S, at_once=1) as acks:
        acks.handled(delivery(1))
        await settle()
        acks.handled(delivery(2))
    assert subscription.acked == [(2, True)]  # `multiple`: tag 1 is settled with it
    assert "ack of the node queue failed" in caplog.text
