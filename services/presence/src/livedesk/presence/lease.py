"""Whether this replica is the one that announces: it holds the presence queue.

The presence queue (`topology.presence_queue()`) is quorum with single-active-consumer, so the
broker delivers to one replica's consumer at a time, and to the next one registered the moment
that consumer goes away (its connection closed or died). A delivery is the only sign AMQP gives
of being that consumer, so the first one makes this replica `active`; a reconnect makes it a
standby again until the next one, since its consumer may now be behind another replica's.

The deliveries are acked as they come, unread: every replica builds its state from its own
queue (`consumer`), and this queue only picks who publishes (docs/adr/0004). Two replicas can
never both be active while both are connected, and a replica cut off from the broker cannot
publish either: publishes travel on the same connection as this consumer.
"""

from __future__ import annotations

import asyncio
import logging

from livedesk.shared.bus.base import Bus, Delivery
from livedesk.shared.topology import QueueSpec

log = logging.getLogger(__name__)

# A message's identity across the two queues that carry it (the presence queue and a replica's
# own): its bytes, hashed. Heartbeats carry a sequence number and the rest a send time, so two
# messages are never the same bytes.
MessageKey = int


def message_key(body: bytes) -> MessageKey:
    return hash(body)


class Lease:
    def __init__(self, bus: Bus, spec: QueueSpec, *, prefetch: int) -> None:
        self._bus, self._spec, self._prefetch = bus, spec, prefetch
        self._latest: Delivery | None = None
        self._arrived = asyncio.Event()
        # The first message delivered since this replica stood by; None while it stands by.
        self.first_key: MessageKey | None = None

    @property
    def active(self) -> bool:
        return self.first_key is not None

    async def run(self) -> None:
        async with self._bus.subscribe(self._spec, prefetch=self._prefetch) as subscription:
            subscription.on_restore(self._lost)
            # Handed over as they arrive: the replica is active from the first delivery on,
            # without waiting for this task to wake (`publishing` covers the rest of the lag).
            subscription.hand_to(self._delivered)
            while True:
                await self._arrived.wait()
                self._arrived.clear()
                latest, self._latest = self._latest, None
                if latest is not None:
                    await subscription.ack(latest, multiple=True)

    def _delivered(self, delivery: Delivery) -> None:
        if self.first_key is None:
            log.info("presence queue delivered to this replica: announcing from now on")
            self.first_key = message_key(delivery.body)
        self._latest = delivery
        self._arrived.set()

    async def _lost(self) -> None:
        log.info("presence queue consumer restored: standing by until it delivers again")
        self.first_key = None
        self._latest = None
