"""Virtual time for the gateway's tests: a `Clock` that moves only when the test moves it.

Timers and sleepers wait on virtual time; `advance(s)` moves both readings by `s`, firing what
falls due on the way in order, and after each lets the loop run what that woke (`settle`)
before the next. `wait_until(predicate)` is what a test does instead of sleeping: while the
predicate is false once the loop has settled, time jumps to the next timer. So a test of a
two-second token expiry takes no second, and its events happen in the same order every run.

Settling is a number of loop turns, not a wait: the code under test does no I/O of its own
here (sockets, bus and API are in memory), so what a timer wakes runs within those turns.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Final

# Loop turns that let whatever a timer or a test woke run to its next wait.
SETTLE_TURNS: Final = 100
# Real time a wait for something outside virtual time (real sockets) polls at.
POLL_S: Final = 0.005


class VirtualTimer:
    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], object]) -> None:
        self.due, self.callback, self.cancelled = due, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Monotonic time from 0 and wall time from the real time at creation, moved together."""

    def __init__(self, wall_at_start: float | None = None) -> None:
        self._now = 0.0
        self._wall_at_start = time.time() if wall_at_start is None else wall_at_start
        self._timers: list[tuple[float, int, VirtualTimer]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_at_start + self._now

    async def sleep(self, delay_s: float) -> None:
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(delay_s, lambda: _wake(woken))
        try:
            await woken
        finally:
            timer.cancel()

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> VirtualTimer:
        return self.call_at(self._now + max(0.0, delay_s), callback)

    def call_at(self, when: float, callback: Callable[[], object]) -> VirtualTimer:
        """Call `callback` at `when` on the monotonic reading; timers due at the same time
        fire in the order they were set."""
        timer = VirtualTimer(max(self._now, when), callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        return timer

    def next_due(self) -> float | None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    async def advance(self, seconds: float) -> None:
        """Move time on by `seconds`, firing each timer due on the way at its own time."""
        end = self._now + seconds
        while (due := self.next_due()) is not None and due <= end:
            await self._fire_next()
        self._now = end
        await settle()

    async def wait_until(self, predicate: Callable[[], object], *, timeout_s: float) -> None:
        """Let the loop settle and, while `predicate()` is false, jump to the next timer.

        Bounded in real time (`timeout_s`): a predicate that never holds fails the test.
        """
        async with asyncio.timeout(timeout_s):
            await settle()
            while not predicate():
                if self.next_due() is None:
                    await asyncio.sleep(POLL_S)  # only real I/O can make it true
                else:
                    await self._fire_next()

    async def _fire_next(self) -> None:
        """Fire the timers due next, all those due at that same time together (as one loop
        iteration runs every timer due), then let the loop settle."""
        due = self.next_due()
        assert due is not None
        self._now = max(self._now, due)
        timers = self._timers
        while timers and timers[0][0] == due:
            _, _, timer = heapq.heappop(timers)
            if not timer.cancelled:
                timer.callback()
        await settle()


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():  # else cancelled: the sleeper is gone
        woken.set_result(None)


async def settle() -> None:
    """Let the loop run what is ready, and what that makes ready, to its next wait."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)
