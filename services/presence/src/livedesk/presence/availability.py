"""The availability the API last sent for each agent: `busy`, `away`, or (absent) `online`.

Changes and the periodic snapshots can arrive in any order; whichever was sent later wins.
It only answers which status an agent wants and whose wish changed: what that means for an
agent with or without sockets is `PresenceState`'s to decide.
"""

from __future__ import annotations

from datetime import datetime

from livedesk.shared.events import AgentStatus
from livedesk.shared.presence_messages import AvailabilitySet, AvailabilitySnapshot

AgentKey = tuple[int, int]  # account_id, user_id


class AvailabilityBook:
    def __init__(self) -> None:
        self._wanted: dict[AgentKey, tuple[AgentStatus, datetime]] = {}

    def wanted(self, key: AgentKey) -> AgentStatus | None:
        entry = self._wanted.get(key)
        return entry[0] if entry else None

    def set(self, message: AvailabilitySet) -> bool:
        """Record a change; False if a later-sent one is already known."""
        key = (message.agent.account_id, message.agent.user_id)
        known = self._wanted.get(key)
        if known is not None and known[1] > message.sent_at:
            return False
        self._wanted[key] = (message.agent.availability, message.sent_at)
        return True

    def replace(self, message: AvailabilitySnapshot) -> list[AgentKey]:
        """Take the snapshot as the whole truth; return the agents whose wish changed."""
        at = message.sent_at
        # A change sent after this snapshot was taken wins over it.
        fresh = {key: entry for key, entry in self._wanted.items() if entry[1] > at}
        for entry in message.agents:
            fresh.setdefault((entry.account_id, entry.user_id), (entry.availability, at))
        previous, self._wanted = self._wanted, fresh
        changed = []
        for key in previous.keys() | fresh.keys():
            before, after = previous.get(key), fresh.get(key)
            if (before and before[0]) != (after and after[0]):
                changed.append(key)
        return changed
