"""Publish what the state machine decided: ephemeral events on `livedesk.ephemeral`.

Each event is encoded once and routed by `routing.event_key`, so gateways bound to
`acct.<a>.#` get their accounts' typing and agent_status. Ephemeral events skip the broker's
disk (`persistent=False`): a typing start is worthless a second later.
"""

from __future__ import annotations

from collections.abc import Sequence

from livedesk.presence.records import Outgoing
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.events import encode


async def publish_events(bus: Bus, events: Sequence[Outgoing]) -> None:
    if not events:
        return
    await bus.publish_many(
        [
            Message(topology.EPHEMERAL, routing.event_key(event), encode(event), persistent=False)
            for event in events
        ]
    )
