"""The revocations this presence replica has heard, so that its reads refuse the access
tokens of sessions ended (logout, disabled agent) as the API and the gateways do.

Each replica listens on a queue of its own bound to livedesk.control: the presence queue has
one active consumer, and the standby answers reads too. Not here: the list itself
(`shared.revocations`), the answer to a refused token (http.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pydantic import ValidationError

from livedesk.shared import topology
from livedesk.shared.bus.base import Bus
from livedesk.shared.revocation import decode_revocation
from livedesk.shared.revocations import Revocations
from livedesk.shared.tokens import Claims

log = logging.getLogger(__name__)


class RevocationListener:
    def __init__(self, bus: Bus, *, wall: Callable[[], float] = time.time) -> None:
        self._bus, self._wall = bus, wall
        self._revocations = Revocations()

    def refuses(self, claims: Claims) -> bool:
        return self._revocations.refuses(claims, self._wall())

    async def run(self) -> None:
        async with self._bus.subscribe(topology.presence_control_queue(), prefetch=64) as queue:
            async for delivery in queue:
                try:
                    self._revocations.add(decode_revocation(delivery.body), self._wall())
                except ValidationError:
                    log.warning("dropped a control message on %s", delivery.routing_key)
                await queue.ack(delivery)
