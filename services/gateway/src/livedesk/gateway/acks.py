"""Settling the node queue's deliveries: one `multiple` ack per window, not one per delivery.

Under sparse traffic an ack per delivery is an ack frame, a write and a drain per event. The
last handled delivery is remembered and acked with `multiple` once `delay_s` has passed since
the first one still unacked, or at once when `at_once` are waiting (the fan-out passes half
the prefetch), so the broker's prefetch window never waits on the timer.

Why a later ack loses nothing: the node queue is exclusive, so it goes with the node's
connection whether its deliveries were acked or not (the node's gap fill and the clients'
resume cover that); and a delivery requeued by a closed channel comes again and is dropped
as a duplicate by its offset.

Deliberately not here: what a delivery means (fanout.py).
"""

from __future__ import annotations

import asyncio
import logging

from livedesk.gateway.clock import Clock, Timer
from livedesk.shared.bus.base import Delivery, Subscription

log = logging.getLogger(__name__)


class Acks:
    __slots__ = (
        "_at_once",
        "_clock",
        "_delay_s",
        "_last",
        "_pending",
        "_subscription",
        "_tasks",
        "_timer",
    )

    def __init__(
        self,
        subscription: Subscription,
        tasks: asyncio.TaskGroup,
        clock: Clock,
        *,
        delay_s: float,
        at_once: int,
    ) -> None:
        self._subscription, self._tasks, self._clock = subscription, tasks, clock
        self._delay_s, self._at_once = delay_s, max(1, at_once)
        self._last: Delivery | None = None
        self._pending = 0
        self._timer: Timer | None = None

    @property
    def pending(self) -> int:
        """Deliveries handled and not yet acked."""
        return self._pending

    def handled(self, last: Delivery, count: int = 1) -> None:
        """`count` more deliveries were handled, `last` the latest of them."""
        self._last = last
        self._pending += count
        if self._pending >= self._at_once:
            self.flush()
        elif self._timer is None:
            self._timer = self._clock.call_later(self._delay_s, self.flush)

    def flush(self) -> None:
        """Ack everything handled so far, with one frame, in the background."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        last, self._last, self._pending = self._last, None, 0
        if last is not None:
            # Acks go out in the order their tasks start, which is the order of their tags.
            self._tasks.create_task(self._ack(last))

    def close(self) -> None:
        """Stop the timer (at shutdown: the node queue goes with the node)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _ack(self, last: Delivery) -> None:
        try:
            await self._subscription.ack(last, multiple=True)
        except Exception:  # a task boundary: an unacked delivery only holds prefetch
            log.exception("ack of the node queue failed")
