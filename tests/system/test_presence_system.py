"""Presence in the real topology: an agent with sockets on two real gateway processes.

api, presence and two gateways run as processes on loopback ports, with short heartbeats and
grace so that the test's waits stay short. The agent's `agent_status` events are observed on
livedesk.ephemeral, where presence publishes them. SIGKILL of one gateway leaves the agent
online (the other node still holds a socket); SIGKILL of the other makes them offline
within three heartbeats plus the grace, announced exactly once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from livedesk.shared import routing, topology
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.events import AgentStatusChanged, decode
from livedesk.shared.settings import BusSettings
from livedesk.shared.topology import QueueSpec
from tests.support.gateway import until
from tests.support.ws_client import WsClient
from tests.system.test_gateway_system import Stack, running_stack

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]

HEARTBEAT_S = 0.5
GRACE_S = 1.0
DEAD_AFTER_S = 3 * HEARTBEAT_S + GRACE_S


@pytest.fixture
def quick_stack(amqp_url: str, postgres_url: str, tmp_path: Path) -> Iterator[Stack]:
    fast = {
        "LIVEDESK_GATEWAY__HEARTBEAT_INTERVAL_S": str(HEARTBEAT_S),
        "LIVEDESK_PRESENCE__OFFLINE_GRACE_S": str(GRACE_S),
    }
    with running_stack(amqp_url, postgres_url, tmp_path, fast) as running:
        yield running


@asynccontextmanager
async def agent_statuses(
    amqp_url: str, account_id: int
) -> AsyncIterator[list[tuple[float, AgentStatusChanged]]]:
    """Every agent_status presence publishes for the account, with when it arrived."""
    spec = QueueSpec(
        name=f"livedesk.test.{secrets.token_hex(6)}",
        durable=False,
        exclusive=True,
        auto_delete=True,
        bindings=((topology.EPHEMERAL, routing.account_pattern(account_id)),),
    )
    seen: list[tuple[float, AgentStatusChanged]] = []

    async def collect() -> None:
        async for delivery in subscription:
            event = decode(delivery.body)
            if isinstance(event, AgentStatusChanged):
                seen.append((time.monotonic(), event))
            await subscription.ack(delivery)

    async with (
        RabbitBus.connect(amqp_url, BusSettings(), name="presence-observer") as bus,
        bus.subscribe(spec) as subscription,
    ):
        task = asyncio.create_task(collect())
        try:
            yield seen
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_online_while_any_gateway_holds_a_socket_offline_once_after_the_last(
    quick_stack: Stack, amqp_url: str
) -> None:
    tenant = await quick_stack.tenant()
    first, second = quick_stack.gateways

    def statuses(seen: list[tuple[float, AgentStatusChanged]]) -> list[str]:
        return [e.status.value for _, e in seen if e.user_id == tenant.user_id]

    async with agent_statuses(amqp_url, tenant.account_id) as seen:
        tab = await WsClient(first.ws).open()
        phone = await WsClient(second.ws).open()
        await tab.auth(tenant.token)
        await phone.auth(quick_stack.token(tenant))
        await until(lambda: statuses(seen) == ["online"], timeout_s=15)

        first.kill()
        await asyncio.sleep(DEAD_AFTER_S + 2 * HEARTBEAT_S)
        assert statuses(seen) == ["online"], "one node left: still online, nothing announced"
        async with httpx.AsyncClient() as http:
            state = await http.get(
                quick_stack.presence.http + "/v1/presence",
                headers={"Authorization": f"Bearer {tenant.token}"},
            )
        assert state.json()["agents"] == {str(tenant.user_id): "online"}

        killed_at = time.monotonic()
        second.kill()
        await until(lambda: statuses(seen) == ["online", "offline"], timeout_s=15)
        offline_at = next(t for t, e in seen if e.status.value == "offline")
        assert offline_at - killed_at >= GRACE_S  # never before the grace
        await asyncio.sleep(2 * HEARTBEAT_S + GRACE_S)
        assert statuses(seen) == ["online", "offline"], "announced exactly once"
        await tab.close()
        await phone.close()
