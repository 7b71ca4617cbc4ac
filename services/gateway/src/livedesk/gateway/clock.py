"""The time a gateway node reads and waits on, passed in (as presence's clock is).

Two readings: `monotonic()` for the node's own durations and deadlines (auth timeouts, pings,
gap waits, send queue lag) and `wall()` for what is dated outside the process (token expiry,
an event's commit time, presence messages). Two ways to wait: `sleep` and `call_later`.
`SystemClock` is the process's; the tests give the node a virtual clock, so that what waits
seconds in production takes none in a test and happens in the same order every run.

Deliberately not here: timers of the server's own I/O (the websockets library's handshake and
close timeouts), which run on the event loop's clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, delay_s: float) -> None: ...

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` once `delay_s` has passed on the monotonic clock, unless cancelled."""
        ...


class SystemClock:
    """The process's clocks and the running event loop's timers."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(delay_s, callback)
