"""A gateway node on the memory bus with sockets, API and presence in memory, on virtual time.

Nothing in the node waits real time: `until` lets virtual time run to the node's next timer
(sweeps, graces, acks, heartbeats) while what it waits for has not happened.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from livedesk.gateway.main import gateway_node
from livedesk.gateway.node import Node
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.settings import GatewaySettings, Settings
from tests.support.clock import VirtualClock
from tests.support.gateway import EventLog, FakePresence, FakeSocket, Keys, until


@dataclass
class Harness:
    node: Node
    bus: MemoryBus
    log: EventLog
    presence: FakePresence
    keys: Keys
    clock: VirtualClock
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def until(self, predicate: Any, *, timeout_s: float = 10.0) -> None:
        await until(predicate, timeout_s=timeout_s, clock=self.clock)

    def connect(self) -> FakeSocket:
        socket = FakeSocket()
        self.tasks.append(asyncio.create_task(self.node.handle(socket)))
        return socket

    async def ready(
        self, account_id: int, user_id: int = 1, resume_from: int | None = None
    ) -> FakeSocket:
        socket = self.connect()
        auth: dict[str, Any] = {"type": "auth", "token": self.keys.token(account_id, user_id)}
        if resume_from is not None:
            auth["resume_from"] = resume_from
        socket.feed(auth)
        await self.until(lambda: socket.of_type("ready") or socket.closed)
        return socket

    def metric(self, name: str, **labels: str) -> float:
        value = self.node.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value


@asynccontextmanager
async def running(keys: Keys, **gateway: Any) -> AsyncIterator[Harness]:
    bus = MemoryBus()
    clock = VirtualClock()
    log = EventLog(bus, clock)
    presence = FakePresence()
    settings = Settings(
        node_id="gw-test", gateway=GatewaySettings(**{"unbind_grace_s": 0.0, **gateway})
    )
    async with gateway_node(bus, settings, keys.verifier, log, presence, clock=clock) as node:
        harness = Harness(node, bus, log, presence, keys, clock)
        try:
            yield harness
        finally:
            for task in harness.tasks:
                task.cancel()
            await asyncio.gather(*harness.tasks, return_exceptions=True)


def loads(raw: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data
