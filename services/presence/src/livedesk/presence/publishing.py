"""Publish what the state machine decided: ephemeral events on `livedesk.ephemeral`.

Each event is encoded once and routed by `routing.event_key`, so gateways bound to
`acct.<a>.#` get their accounts' typing and agent_status. Ephemeral events skip the broker's
disk (`persistent=False`): a typing start is worthless a second later.

Every replica decides the same events from the same messages; only the one holding the lease
(`lease.Lease`) publishes them, so each is announced once while both run. A standby keeps what
it decided in the last `LEASE_LAG_S`: the presence queue (quorum, replicated before it
delivers) tells a replica it is the one a little after its own queue has brought the same
messages, and what it decided in between would otherwise be lost. On taking over it publishes
those first; some may repeat what the replica before it announced just before it died, which
is harmless, since each event states a status or a typing state rather than a change.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from livedesk.presence.lease import Lease
from livedesk.presence.records import Clock, Outgoing
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.events import encode

# How much later the presence queue may say "you are the one" than the replica's own queue
# brings the message that said it: a quorum commit, milliseconds on a quiet broker, with room
# for a busy one. Longer repeats more at a takeover, shorter loses more.
LEASE_LAG_S: Final = 2.0


class Announcer:
    def __init__(self, bus: Bus, lease: Lease, clock: Clock = time.monotonic) -> None:
        self._bus, self._lease, self._clock = bus, lease, clock
        self._held: deque[tuple[float, Sequence[Outgoing]]] = deque()
        self.withheld = 0  # events decided while standing by, left to the active replica

    async def announce(self, events: Sequence[Outgoing]) -> None:
        """Publish `events` if this replica is the active one, else hold them a while.

        Called with nothing too (each tick): a replica just made active publishes what it held.
        """
        since = self._lease.active_since
        if since is None:
            if events:
                self.withheld += len(events)
                self._hold(events)
            return
        if self._held:
            events = [*self._taken_over(since), *events]
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

    def _hold(self, events: Sequence[Outgoing]) -> None:
        now = self._clock()
        self._held.append((now, events))
        while self._held[0][0] < now - LEASE_LAG_S:
            self._held.popleft()

    def _taken_over(self, since: float) -> list[Outgoing]:
        held, self._held = self._held, deque()
        return [event for at, events in held if at >= since - LEASE_LAG_S for event in events]
