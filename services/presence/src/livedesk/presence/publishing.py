"""Publish what the state machine decided: ephemeral events on `livedesk.ephemeral`.

Each event is encoded once and routed by `routing.event_key`, so gateways bound to
`acct.<a>.#` get their accounts' typing and agent_status. Ephemeral events skip the broker's
disk (`persistent=False`): a typing start is worthless a second later.

Every replica decides the same events from the same messages; only the one holding the lease
(`lease.Lease`) publishes them, so each is announced once. The presence queue (quorum, so
replicated before it delivers) tells a replica it is the one a little after that replica's own
queue has brought the same message, so a standby keeps what it decided in the last `HELD_S`,
each with the message it came from. On taking over it publishes what it decided from the
message the presence queue first gave it onward: what nobody has announced yet. What the
replica before it decided and died before publishing is lost (ephemeral events are at most
once; a reconnecting client is sent the current state).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from livedesk.presence.lease import Lease, MessageKey
from livedesk.presence.records import Clock, Outgoing
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.events import encode

# How long a standby keeps what it decided: far longer than the presence queue lags behind a
# replica's own (a quorum commit: milliseconds), and bounded so that a standby holds little.
HELD_S: Final = 10.0

# What a message (None: a tick) made the state decide.
Decided = tuple[MessageKey | None, Sequence[Outgoing]]


class Announcer:
    def __init__(self, bus: Bus, lease: Lease, clock: Clock = time.monotonic) -> None:
        self._bus, self._lease, self._clock = bus, lease, clock
        self._held: deque[tuple[float, Decided]] = deque()
        self.withheld = 0  # events decided while standing by, left to the active replica

    async def announce(self, decided: Sequence[Decided]) -> None:
        """Publish the events if this replica is the active one, else hold them a while.

        Called with no events too (each tick), so a replica just made active publishes what
        it holds at once.
        """
        if not self._lease.active:
            self._hold(decided)
            return
        events = [event for _, some in decided for event in some]
        if self._held:
            events = self._not_yet_announced() + events
        if events:
            await self._bus.publish_many(
                [
                    Message(
                        topology.EPHEMERAL,
                        routing.event_key(event),
                        encode(event),
                        persistent=False,
                    )
                    for event in events
                ]
            )

    def _hold(self, decided: Sequence[Decided]) -> None:
        now = self._clock()
        for key, events in decided:
            if key is not None or events:
                self.withheld += len(events)
                self._held.append((now, (key, events)))
        while self._held and self._held[0][0] < now - HELD_S:
            self._held.popleft()

    def _not_yet_announced(self) -> list[Outgoing]:
        """What was decided from the presence queue's first message to this replica on."""
        held, self._held = [decided for _, decided in self._held], deque()
        first = self._lease.first_key
        keys = [key for key, _ in held]
        if first not in keys:
            return []  # not reached on our own queue yet: all of it is still to be decided
        return [event for _, events in held[keys.index(first) :] for event in events]
