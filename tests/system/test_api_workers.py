"""`livedesk api --workers 2`: two processes on one port, one service.

Writes through the shared port (each on a new connection, which the kernel gives to either
worker) are all answered, every event is published exactly once and in order by the two
relays, and the supervisor stops both workers on SIGTERM; a worker that dies takes the
service down with it (status non-zero), rather than leaving half a service running.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import (
    ApiProcess,
    Deployment,
    admin_email,
    api_deployment,
    bearer,
    collect_events,
    make_tenant,
    offsets,
    open_conversation,
)

WORKERS = 2
MESSAGES = 60


@pytest.fixture
def setup(postgres_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Deployment]:
    with api_deployment(postgres_url, amqp_url, tmp_path) as deployment:
        yield deployment


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def test_workers_share_the_port_and_publish_every_event_once(
    setup: Deployment, amqp_url: str
) -> None:
    with ApiProcess(setup.env, args=("--workers", str(WORKERS))) as api:
        workers = api.children()
        assert len(workers) == WORKERS
        async with collect_events(amqp_url, setup.account_id) as collector:
            async with httpx.AsyncClient(base_url=api.url, timeout=20) as client:
                tenant = await make_tenant(client, admin_email(0), setup.account_id, 0)
                conversation = await open_conversation(client, tenant)

            async def post(n: int) -> int:
                # A new connection each: the kernel spreads connections, not requests.
                async with httpx.AsyncClient(base_url=api.url, timeout=20) as client:
                    response = await client.post(
                        f"/v1/conversations/{conversation}/messages",
                        json={"content": f"m{n}"},
                        headers=bearer(tenant.token),
                    )
                    assert response.status_code == 201, response.text
                    return int(response.json()["id"])

            ids = await asyncio.gather(*(post(n) for n in range(MESSAGES)))
            assert len(set(ids)) == MESSAGES
            events = await collector.wait_for(MESSAGES + 1)  # and new_conversation
        assert offsets(events) == list(range(1, MESSAGES + 2))
        served = [w for w in workers if alive(w)]
        assert served == workers
        os.kill(api.pid, signal.SIGTERM)
        assert api.wait(30) == 0
    assert not any(alive(w) for w in workers)


def test_a_dead_worker_stops_the_service(setup: Deployment) -> None:
    with ApiProcess(setup.env, args=("--workers", str(WORKERS))) as api:
        first, second = api.children()
        os.kill(first, signal.SIGKILL)
        assert api.wait(30) != 0
        assert not alive(second)
