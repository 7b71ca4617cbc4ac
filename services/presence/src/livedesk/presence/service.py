"""Presence wired together: state, consumer, ticker, key loading and the HTTP app.

`PresenceService(settings, bus)` takes its collaborators, so the standalone mode can run it
in-process on a `MemoryBus` (mount `service.router` or `service.app`, run `service.run()` as
a sibling of its server) and `main` runs it on RabbitMQ. `run` keeps the long-lived tasks in
one TaskGroup: if any dies, all stop and the error reaches the caller, never a deaf service.

Every replica builds its state (consumer, ticker) and answers reads; the lease says which one
announces (docs/adr/0004). Ready means its state is built: consuming, a first warm-up over,
and the token key loaded, whether it is the active replica or a standby.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livedesk.presence.consumer import Consumer
from livedesk.presence.http import create_app, create_router
from livedesk.presence.keys import Keys
from livedesk.presence.lease import Lease
from livedesk.presence.metrics import build_registry
from livedesk.presence.publishing import Announcer
from livedesk.presence.records import Clock
from livedesk.presence.revocation_listener import RevocationListener
from livedesk.presence.state import PresenceState
from livedesk.presence.ticker import run_ticker
from livedesk.shared import topology
from livedesk.shared.bus.base import Bus
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import TokenVerifier


class PresenceService:
    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        *,
        verifier: TokenVerifier | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._settings, self._bus, self._clock = settings, bus, clock
        self.state = PresenceState(
            settings.presence, clock, assumed_interval_s=settings.gateway.heartbeat_interval_s
        )
        prefetch = settings.bus.prefetch
        self.lease = Lease(bus, topology.presence_queue(), prefetch=prefetch)
        self.announcer = Announcer(bus, self.lease, clock)
        self.consumer = Consumer(
            self.state,
            bus,
            self.announcer,
            topology.presence_replica_queue(),
            prefetch=prefetch,
            clock=clock,
        )
        self.keys = Keys(settings, verifier)
        self.revocations = RevocationListener(bus)
        self.registry = build_registry(self.state, self.lease, self.announcer, self.consumer)
        self.router = create_router(self.state, self.keys, self.revocations)
        self.app = create_app(
            self.state,
            self.keys,
            self.revocations,
            self.registry,
            self.readiness,
            metrics_token=settings.metrics_token,
            docs=settings.api.docs,
        )

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        detail = {
            "consuming": self.consumer.subscribed,
            "built": self.state.built,
            "token_key": self.keys.verifier is not None,
            "active": self.lease.active,
            "warming": self.state.warming,
        }
        return bool(detail["consuming"] and detail["built"] and detail["token_key"]), detail

    async def run(self) -> None:
        """Consume, tick, load and refresh the token keys until cancelled or one of them fails."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.lease.run(), name="presence-lease")
            group.create_task(self.consumer.run(), name="presence-consumer")
            group.create_task(
                run_ticker(
                    self.state,
                    self.announcer,
                    interval_s=self._settings.presence.tick_interval_s,
                    clock=self._clock,
                ),
                name="presence-ticker",
            )
            group.create_task(self.keys.run(), name="presence-keys")
            group.create_task(self.revocations.run(), name="presence-revocations")
