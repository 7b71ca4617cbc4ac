"""Consume this replica's own queue: decode, apply to the state, announce the events, then ack.

Every replica has its own queue bound to livedesk.presence.in (`topology.presence_replica_queue`),
so each builds the same state from the same messages, and a standby answers reads and takes
over with nothing to rebuild; the announcer publishes only the active replica's events. The
queue lives with the connection: after a reconnect what came meanwhile is gone, and the state
warms up again (`PresenceState.restart_feed`). Deliveries are taken in batches, and a batch is
acked (one `multiple` ack) once its events are announced.

Bad input - bytes that do not decode, a message from an unknown node, a stale heartbeat - is
logged (rate-limited, since a broken gateway repeats itself), counted, acked and dropped: one
bad producer must not stop presence for everyone. Anything else that goes wrong is a bug or an
outage and ends the task, which ends the service (see `service`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from livedesk.presence.decoding import SLICE_SOCKETS, Snapshot, decode
from livedesk.presence.lease import message_key
from livedesk.presence.publishing import Announcer, Decided
from livedesk.presence.records import Clock, Outgoing
from livedesk.presence.state import Dropped, PresenceState
from livedesk.shared.bus.base import Bus, Delivery
from livedesk.shared.errors import EventError
from livedesk.shared.topology import QueueSpec

log = logging.getLogger(__name__)

MALFORMED: Final = "malformed"
# One line per reason per this many seconds, with the count of what was not logged.
DROP_LOG_INTERVAL_S: Final = 10.0


class DropLog:
    """Log dropped input at most once per reason per interval, counting the rest."""

    def __init__(self, clock: Clock, interval_s: float = DROP_LOG_INTERVAL_S) -> None:
        self._clock, self._interval_s = clock, interval_s
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def __call__(self, reason: str, detail: str, routing_key: str) -> None:
        now = self._clock()
        last = self._last.get(reason)
        if last is not None and now - last < self._interval_s:
            self._quiet[reason] = self._quiet.get(reason, 0) + 1
            return
        self._last[reason] = now
        quiet = self._quiet.pop(reason, 0)
        more = f" ({quiet} more since the last report)" if quiet else ""
        log.warning("dropped %s message on %s: %s%s", reason, routing_key, detail, more)


class Consumer:
    def __init__(
        self,
        state: PresenceState,
        bus: Bus,
        announcer: Announcer,
        spec: QueueSpec,
        *,
        prefetch: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._state, self._bus, self._announcer, self._spec = state, bus, announcer, spec
        self._prefetch = prefetch
        self._drop_log = DropLog(clock)
        self.subscribed = False
        self.messages = 0

    async def run(self) -> None:
        async with self._bus.subscribe(self._spec, prefetch=self._prefetch) as subscription:
            subscription.on_restore(self._restored)
            self._state.start_feed()
            self.subscribed = True
            try:
                while True:
                    batch = await subscription.next_batch(self._prefetch)
                    decided: list[Decided] = []
                    for delivery in batch:
                        events = await self._handle(delivery)
                        decided.append((message_key(delivery.body), events))
                    await self._announcer.announce(decided)
                    await subscription.ack(batch[-1], multiple=True)
            finally:
                self.subscribed = False

    async def _handle(self, delivery: Delivery) -> list[Outgoing]:
        self.messages += 1
        try:
            message = await decode(delivery.body)
            if isinstance(message, Snapshot):
                events = await self._apply_snapshot(message)
            else:
                events = self._state.handle(message)
        except EventError as error:
            self._dropped(MALFORMED, error.message, delivery)
            return []
        except Dropped as error:
            self._dropped(error.reason, error.detail, delivery)
            return []
        # A batch of many small messages is one synchronous stretch otherwise.
        await asyncio.sleep(0)
        return events

    async def _apply_snapshot(self, snapshot: Snapshot) -> list[Outgoing]:
        applying = self._state.begin_snapshot(snapshot.beat)
        events: list[Outgoing] = []
        sockets = snapshot.sockets
        for start in range(0, len(sockets), SLICE_SOCKETS):
            events += self._state.feed_snapshot(applying, sockets[start : start + SLICE_SOCKETS])
            await asyncio.sleep(0)  # let the ticker run inside a big snapshot
        while not applying.done:
            events += self._state.finish_snapshot(applying, max_sockets=SLICE_SOCKETS)
            await asyncio.sleep(0)
        return events

    def _dropped(self, reason: str, detail: str, delivery: Delivery) -> None:
        self._state.stats.dropped[reason] += 1
        self._drop_log(reason, detail, delivery.routing_key)

    async def _restored(self) -> None:
        # The queue was declared again: what nodes sent during the outage never reached it.
        log.info("presence replica queue restored: warming up again")
        self._state.restart_feed()
