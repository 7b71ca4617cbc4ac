"""Publish what the state machine decided: ephemeral events on `livedesk.ephemeral`.

Each event is encoded once and routed by `routing.event_key`, so gateways bound to
`acct.<a>.#` get their accounts' typing and agent_status. Ephemeral events skip the broker's
disk (`persistent=False`): a typing start is worthless a second later.

Every replica decides the same events from the same messages; only the one holding the lease
(`lease.Lease`) publishes them, so each is announced once. A standby's are dropped here.
"""

from __future__ import annotations

from collections.abc import Sequence

from livedesk.presence.lease import Lease
from livedesk.presence.records import Outgoing
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.events import encode


class Announcer:
    def __init__(self, bus: Bus, lease: Lease) -> None:
        self._bus, self._lease = bus, lease
        self.withheld = 0  # events a standby decided and left to the active replica

    async def announce(self, events: Sequence[Outgoing]) -> None:
        if not events:
            return
        if not self._lease.active:
            self.withheld += len(events)
            return
        await self._bus.publish_many(
            [
                Message(
                    topology.EPHEMERAL, routing.event_key(event), encode(event), persistent=False
                )
                for event in events
            ]
        )
