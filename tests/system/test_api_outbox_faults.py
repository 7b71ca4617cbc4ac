"""The outbox under faults, on a private RabbitMQ node (never the shared broker).

- RabbitMQ stopped while messages are written: the API keeps answering 201, reports the
  broker down, and when the broker is back every event is published, in order, none twice.
- The API process SIGKILLed with events committed and not yet published (the broker was
  unreachable for it): a restarted process's sweep publishes what was left, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import (
    ApiProcess,
    Deployment,
    admin_email,
    api_deployment,
    collect_events,
    make_tenant,
    offsets,
    open_conversation,
    post_messages,
)
from tests.support.ports import free_port
from tests.support.private_rabbit import PrivateRabbit

pytestmark = pytest.mark.fault


@pytest.fixture
def setup(postgres_url: str, private_rabbit: PrivateRabbit, tmp_path: Path) -> Iterator[Deployment]:
    # Short sweeps and reconnects keep the test's waits short.
    fast = {
        "LIVEDESK_API__RELAY_SWEEP_INTERVAL_S": "0.2",
        "LIVEDESK_API__RELAY_PUBLISH_TIMEOUT_S": "1",
        "LIVEDESK_BUS__RECONNECT_INTERVAL_S": "0.5",
    }
    with api_deployment(postgres_url, private_rabbit.url, tmp_path, fast) as deployment:
        yield deployment


async def backlog(client: httpx.AsyncClient) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("livedesk_outbox_backlog "):
            return float(line.split()[1])
    raise AssertionError("no livedesk_outbox_backlog in /metrics")


async def poll_readyz(client: httpx.AsyncClient, status: int) -> httpx.Response:
    for _ in range(100):
        response = await client.get("/readyz")
        if response.status_code == status:
            break
        await asyncio.sleep(0.1)
    return response


async def test_broker_stopped_while_writing(
    setup: Deployment, private_rabbit: PrivateRabbit
) -> None:
    with ApiProcess(setup.env) as api:
        async with (
            collect_events(private_rabbit.url, setup.account_id, durable=True) as collector,
            httpx.AsyncClient(base_url=api.url, timeout=20) as client,
        ):
            tenant = await make_tenant(client, admin_email(0), setup.account_id, 0)
            conversation = await open_conversation(client, tenant)
            await post_messages(client, tenant, conversation, 20, "before")
            assert len(await collector.wait_for(21)) == 21
            await asyncio.to_thread(private_rabbit.stop_app)
            await post_messages(client, tenant, conversation, 30, "during")  # all 201
            assert await backlog(client) > 0
            # Readiness follows the relay's last contact with the broker: it turns once a
            # round has failed (after the relay's publish timeout).
            ready = await poll_readyz(client, 503)
            assert ready.json()["broker"] == "down"
            await asyncio.to_thread(private_rabbit.start_app)
            await post_messages(client, tenant, conversation, 20, "after")
            total = 1 + 20 + 30 + 20
            received = await collector.wait_for(total, timeout_s=45)
            assert offsets(received) == list(range(1, total + 1))  # all, in order, none twice
            assert await backlog(client) == 0
            assert (await poll_readyz(client, 200)).json()["broker"] == "ok"


async def test_killed_before_publishing_then_restarted(
    setup: Deployment, private_rabbit: PrivateRabbit
) -> None:
    unreachable = {**setup.env, "LIVEDESK_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    async with collect_events(private_rabbit.url, setup.account_id) as collector:
        first = ApiProcess(unreachable).start()
        try:
            async with httpx.AsyncClient(base_url=first.url, timeout=20) as client:
                tenant = await make_tenant(client, admin_email(0), setup.account_id, 0)
                conversation = await open_conversation(client, tenant)
                await post_messages(client, tenant, conversation, 25, "orphan")
                # Committed, and not one of them published: the broker is out of reach.
                assert await backlog(client) == 26
        finally:
            first.kill()
        assert collector.received == []
        with ApiProcess(setup.env) as second:
            received = await collector.wait_for(26)
            assert offsets(received) == list(range(1, 27))
            async with httpx.AsyncClient(base_url=second.url, timeout=20) as client:
                assert await backlog(client) == 0
