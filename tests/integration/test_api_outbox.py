"""The outbox against real PostgreSQL and RabbitMQ, through a real `livedesk api` process.

Concurrent writers of one account get gapless offsets 1..N, replay returns exactly them in
order, and the broker carries each exactly once in order. The same client_id posted
concurrently makes one message and one event. Two API processes on one database publish
every event exactly once. With either route for message posts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import (
    ApiProcess,
    Deployment,
    admin_email,
    api_deployment,
    bearer,
    collect_events,
    login,
    make_tenant,
    offsets,
    open_conversation,
)
from tests.support.backends import ROUTES, Route, route_env

WRITERS = 8
MESSAGES_PER_WRITER = 25


@pytest.fixture(params=ROUTES)
def deployment(
    request: pytest.FixtureRequest, postgres_url: str, amqp_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    route: Route = request.param
    with api_deployment(postgres_url, amqp_url, tmp_path, route_env(route)) as created:
        yield created


async def write_concurrently(
    urls: list[str], token: str, conversation: int, writers: int, each: int
) -> list[int]:
    """`writers` tasks post `each` messages; writer i uses urls[i % len(urls)]."""

    async def writer(index: int) -> list[int]:
        base = urls[index % len(urls)]
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            ids = []
            for n in range(each):
                response = await client.post(
                    f"/v1/conversations/{conversation}/messages",
                    json={"content": f"w{index} m{n}", "client_id": f"w{index}-{n}"},
                    headers=bearer(token),
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            return ids

    results = await asyncio.gather(*(writer(i) for i in range(writers)))
    return [ident for ids in results for ident in ids]


async def test_concurrent_writers_get_gapless_offsets(
    deployment: Deployment, amqp_url: str
) -> None:
    with ApiProcess(deployment.env) as api:
        async with (
            collect_events(amqp_url, deployment.account_id) as collector,
            httpx.AsyncClient(base_url=api.url, timeout=20) as client,
        ):
            tenant = await make_tenant(client, admin_email(0), deployment.account_id, 0)
            conversation = await open_conversation(client, tenant)
            ids = await write_concurrently(
                [api.url], tenant.token, conversation, WRITERS, MESSAGES_PER_WRITER
            )
            total = 1 + WRITERS * MESSAGES_PER_WRITER
            replayed: list[dict[str, Any]] = []
            after = 0
            while True:
                page = (
                    await client.get(f"/v1/events?after={after}&limit=70", headers=tenant.headers)
                ).json()
                if not page["events"]:
                    break
                replayed += page["events"]
                after = page["events"][-1]["offset"]
            assert page["latest_offset"] == total
            assert [e["offset"] for e in replayed] == list(range(1, total + 1))
            message_ids = [e["data"]["id"] for e in replayed if e["type"] == "new_message"]
            assert sorted(message_ids) == sorted(ids)
            received = await collector.wait_for(total)
            assert offsets(received) == list(range(1, total + 1))  # in order, none twice


async def test_same_client_id_concurrently_is_one_message(
    deployment: Deployment, amqp_url: str
) -> None:
    with ApiProcess(deployment.env) as api:
        async with (
            collect_events(amqp_url, deployment.account_id) as collector,
            httpx.AsyncClient(base_url=api.url, timeout=20) as client,
        ):
            tenant = await make_tenant(client, admin_email(0), deployment.account_id, 0)
            conversation = await open_conversation(client, tenant)

            async def post() -> httpx.Response:
                async with httpx.AsyncClient(base_url=api.url, timeout=20) as own:
                    return await own.post(
                        f"/v1/conversations/{conversation}/messages",
                        json={"content": "once", "client_id": "retry-me"},
                        headers=tenant.headers,
                    )

            responses = await asyncio.gather(*(post() for _ in range(WRITERS)))
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200] * (WRITERS - 1) + [201]
            assert len({r.json()["id"] for r in responses}) == 1
            listed = (
                await client.get(
                    f"/v1/conversations/{conversation}/messages", headers=tenant.headers
                )
            ).json()
            assert len(listed["items"]) == 1
            events = (await client.get("/v1/events", headers=tenant.headers)).json()["events"]
            assert [e["type"] for e in events] == ["new_conversation", "new_message"]
            received = await collector.wait_for(2)
            assert offsets(received) == [1, 2]


async def test_two_api_processes_publish_each_event_once(
    deployment: Deployment, amqp_url: str
) -> None:
    with ApiProcess(deployment.env) as first, ApiProcess(deployment.env) as second:
        async with (
            collect_events(amqp_url, deployment.account_id) as collector,
            httpx.AsyncClient(base_url=first.url, timeout=20) as client,
        ):
            token = await login(client, admin_email(0))
            tenant = await make_tenant(client, admin_email(0), deployment.account_id, 0)
            conversation = await open_conversation(client, tenant)
            # Writers alternate between the processes; each process's relay is woken by its
            # own commits and sweeps the other's too.
            await write_concurrently([first.url, second.url], token, conversation, WRITERS, 15)
            total = 1 + WRITERS * 15
            received = await collector.wait_for(total)
            assert offsets(received) == list(range(1, total + 1))
