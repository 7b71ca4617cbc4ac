"""Drive the state machine's deadlines: typing TTL, offline grace and node death.

It wakes at the next deadline, or every `tick_interval_s` at most (node deaths and deadlines
added while it sleeps have no wake-up of their own), asks the state what expired and hands it
to the announcer. Every replica ticks, so a standby's state expires as the active one's does;
only the active one's events are published. How late it fires is bounded by that interval plus
whatever holds the loop, which is why big heartbeats are decoded in slices (see `decoding`).
It does not decide what expires.
"""

from __future__ import annotations

import asyncio
import time

from livedesk.presence.publishing import Announcer
from livedesk.presence.records import Clock
from livedesk.presence.state import PresenceState

# Never spin: a deadline a hair in the future would otherwise wake the loop in a busy cycle.
MIN_SLEEP_S = 0.005
# A node of 50,000 sockets dying sends ~20,000 agents offline at once; in ticks of this many
# (one publish each) typing expiries keep their time meanwhile (docs/performance.md).
MAX_OFFLINE_PER_TICK = 1000


async def run_ticker(
    state: PresenceState,
    announcer: Announcer,
    *,
    interval_s: float,
    clock: Clock = time.monotonic,
) -> None:
    while True:
        due = state.next_due()
        sleep_s = interval_s if due is None else min(interval_s, due - clock())
        await asyncio.sleep(max(sleep_s, MIN_SLEEP_S))
        await announcer.announce([(None, state.tick(MAX_OFFLINE_PER_TICK))])
