"""Who writes which kind of message, through the routes: agents write replies and notes on
either message route (the fast ASGI one and FastAPI's), `incoming` is refused there, and an
admin imports a message of any kind with its original time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from livedesk.shared.bus.memory import MemoryBus
from tests.support.api import (
    PASSWORD,
    InProcessApi,
    Tenant,
    admin_email,
    api_settings,
    bearer,
    in_process_api,
    login,
    make_tenant,
    open_conversation,
)


@dataclass
class Desk:
    app: InProcessApi
    tenant: Tenant
    agent: dict[str, str]
    conversation: int

    @property
    def messages(self) -> str:
        return f"/v1/conversations/{self.conversation}/messages"


@pytest.fixture(params=["fast", "plain"])
async def desk(
    request: pytest.FixtureRequest, database: tuple[str, list[int]], tmp_path: Path
) -> AsyncIterator[Desk]:
    database_url, accounts = database
    settings = api_settings(database_url, tmp_path, fast_message_route=request.param == "fast")
    async with in_process_api(settings, MemoryBus()) as app:
        tenant = await make_tenant(app.client, admin_email(0), accounts[0], 0)
        body = {"email": "alice@acme.example.org", "password": PASSWORD, "name": "Alice"}
        made = await app.client.post("/v1/agents", json=body, headers=tenant.headers)
        assert made.status_code == 201, made.text
        agent = bearer(await login(app.client, "alice@acme.example.org"))
        yield Desk(app, tenant, agent, await open_conversation(app.client, tenant))


async def offset_of(desk: Desk) -> int:
    listed = await desk.app.client.get(desk.messages, headers=desk.tenant.headers)
    return int(listed.json()["offset"])


async def test_agents_and_admins_may_not_post_incoming(desk: Desk) -> None:
    before = await offset_of(desk)
    for headers in (desk.agent, desk.tenant.headers):
        answer = await desk.app.client.post(
            desk.messages, json={"content": "help!", "kind": "incoming"}, headers=headers
        )
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "forbidden"
        assert "incoming" in answer.json()["message"]
    assert await offset_of(desk) == before  # nothing written, no event
    for kind in ("outgoing", "note"):
        posted = await desk.app.client.post(
            desk.messages, json={"content": "hi", "kind": kind}, headers=desk.agent
        )
        assert posted.status_code == 201, posted.text


async def test_an_admin_imports_a_contacts_message_with_its_original_time(desk: Desk) -> None:
    client = desk.app.client
    reply = await client.post(desk.messages, json={"content": "earlier"}, headers=desk.agent)
    imported = await client.post(
        desk.messages + ":import",
        json={"content": "from the old desk", "created_at": "2025-01-02T03:04:05+02:00"},
        headers=desk.tenant.headers,
    )
    assert imported.status_code == 201, imported.text
    message = imported.json()
    assert (message["kind"], message["sender_type"]) == ("incoming", "contact")
    assert message["sender_id"] == desk.tenant.contact_id
    assert message["created_at"] == "2025-01-02T01:04:05Z"
    listed = (await client.get(desk.messages, headers=desk.agent)).json()
    # Listed in the order written, whatever the dates.
    assert [m["id"] for m in listed["items"]] == [reply.json()["id"], message["id"]]
    events = (await client.get("/v1/events", headers=desk.agent)).json()["events"]
    assert events[-1]["type"] == "new_message"
    assert events[-1]["offset"] == listed["offset"]
    assert events[-1]["data"]["created_at"] == "2025-01-02T01:04:05Z"
    assert events[-1]["ts"] > "2026"  # the event is dated when it was written


async def test_an_import_is_refused_to_agents_and_for_a_time_that_is_not_one(desk: Desk) -> None:
    client, url = desk.app.client, desk.messages + ":import"
    by_agent = await client.post(url, json={"content": "x"}, headers=desk.agent)
    assert (by_agent.status_code, by_agent.json()["code"]) == (403, "forbidden")
    for created_at in ("2025-01-02T03:04:05", "0001-01-01T00:00:00+01:00", "yesterday"):
        answer = await client.post(
            url, json={"content": "x", "created_at": created_at}, headers=desk.tenant.headers
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request"), created_at
    elsewhere = await client.post(
        "/v1/conversations/999999/messages:import",
        json={"content": "x"},
        headers=desk.tenant.headers,
    )
    assert elsewhere.status_code == 404
