"""Tells presence about agents' availability (online, busy, away) without a database there.

Each change is announced at once (`AvailabilitySet`), and every few seconds a snapshot of
every agent who is not `online` (`AvailabilitySnapshot`), so a presence replica that has
just taken over learns the whole picture within one interval. Both go to
`livedesk.presence.in`. They are soft state: a failed publish is logged, and the next
snapshot repairs it. Not here: storing availability (routes.agents does, in the database).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from livedesk.api.models import User
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.errors import BusError
from livedesk.shared.events import AgentStatus
from livedesk.shared.presence_messages import (
    AgentAvailability,
    AvailabilitySet,
    AvailabilitySnapshot,
    PresenceMessage,
    encode_message,
)

log = logging.getLogger(__name__)

# A change waiting longer than this to be announced is dropped; the snapshot carries it.
PENDING_LIMIT = 1000
PUBLISH_TIMEOUT_S = 2.0


class AvailabilityAnnouncer:
    def __init__(self, engine: AsyncEngine, bus: Bus, *, node: str, interval_s: float) -> None:
        self._engine, self._bus, self._node, self._interval_s = engine, bus, node, interval_s
        self._pending: asyncio.Queue[AgentAvailability] = asyncio.Queue(PENDING_LIMIT)

    def changed(self, agent: AgentAvailability) -> None:
        """Called after the commit that changed `agent`'s availability."""
        try:
            self._pending.put_nowait(agent)
        except asyncio.QueueFull:
            log.warning("availability announcements backed up; the snapshot will carry them")

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._interval_s):
                    while True:
                        agent = await self._pending.get()
                        now = datetime.now(UTC)
                        await self._send(AvailabilitySet(node=self._node, sent_at=now, agent=agent))
            except TimeoutError:
                pass
            try:
                await self._send(await self.snapshot())
            except DBAPIError as error:
                log.warning("availability snapshot not read: %s", error)

    async def snapshot(self) -> AvailabilitySnapshot:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(col(User.account_id), col(User.id), col(User.availability))
                .where(col(User.availability) != AgentStatus.ONLINE.value)
                .order_by(col(User.account_id), col(User.id))
            )
            agents = tuple(
                AgentAvailability(account_id=a, user_id=u, availability=AgentStatus(s))
                for a, u, s in rows
            )
        return AvailabilitySnapshot(node=self._node, sent_at=datetime.now(UTC), agents=agents)

    async def _send(self, message: PresenceMessage) -> None:
        bus_message = Message(
            topology.PRESENCE_IN, routing.node_key(message), encode_message(message), False
        )
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await self._bus.publish(bus_message)
        except (BusError, TimeoutError) as error:
            log.warning("availability not announced: %s", error)
