"""Contact details end to end, on PostgreSQL and on SQLite: phone and custom attributes on
create, PATCH (partial; any agent), a contact's conversations newest activity first with
cursor paging, and every refusal (bad input 422, another account's contact 404).

Also the rule imported history relies on: a conversation's last activity is its newest
message's time, so conversations imported with their original times list as they happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from livedesk.shared.bus.memory import MemoryBus
from tests.support.api import (
    PASSWORD,
    Tenant,
    admin_email,
    api_settings,
    bearer,
    in_process_api,
    login,
    make_tenant,
    prepare_database,
)


@dataclass
class Api:
    client: httpx.AsyncClient
    a: Tenant
    b: Tenant
    agent: dict[str, str]  # an agent of a (not an admin)


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    accounts = await prepare_database(database_url, 2)
    async with in_process_api(api_settings(database_url, tmp_path), MemoryBus()) as app:
        client = app.client
        a, b = [
            await make_tenant(client, admin_email(n), account, 0)
            for n, account in enumerate(accounts)
        ]
        for tenant in (a, b):
            (admin,) = (await client.get("/v1/agents", headers=tenant.headers)).json()["items"]
            tenant.admin_id = admin["id"]
        made = await client.post(
            "/v1/agents",
            json={"email": "agent@a.example.org", "password": PASSWORD, "name": "Agent"},
            headers=a.headers,
        )
        assert made.status_code == 201, made.text
        yield Api(client, a, b, bearer(await login(client, "agent@a.example.org")))


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == ("not_found" if status == 404 else "invalid_request")


ATTRIBUTES: dict[str, Any] = {"plan": "Pro", "seats": 12, "mrr": 499.5, "vip": True}


async def test_contact_details_are_kept_and_edited(api: Api) -> None:
    client, agent = api.client, api.agent
    made = await client.post(
        "/v1/contacts",
        json={
            "name": "Maya Chen",
            "email": "Maya@Example.org",
            "phone": " +44 20 7946 0958 ",
            "custom_attributes": ATTRIBUTES,
        },
        headers=agent,
    )
    assert made.status_code == 201, made.text
    contact = made.json()
    assert (contact["email"], contact["phone"]) == ("maya@example.org", "+44 20 7946 0958")
    assert contact["custom_attributes"] == ATTRIBUTES
    # Types survive the database: true stays a boolean, 12 an integer.
    got = (await client.get(f"/v1/contacts/{contact['id']}", headers=agent)).json()
    assert got["custom_attributes"] == ATTRIBUTES
    types = {key: type(value) for key, value in got["custom_attributes"].items()}
    assert types == {"plan": str, "seats": int, "mrr": float, "vip": bool}
    plain = (await client.post("/v1/contacts", json={"name": "Bo"}, headers=agent)).json()
    assert (plain["phone"], plain["custom_attributes"]) == (None, {})

    path = f"/v1/contacts/{contact['id']}"
    phone_only = await client.patch(path, json={"phone": "555-0100"}, headers=agent)
    assert phone_only.status_code == 200, phone_only.text
    assert phone_only.json() == {**contact, "phone": "555-0100"}
    replaced = await client.patch(
        path, json={"custom_attributes": {"plan": "Team"}, "email": None}, headers=agent
    )
    assert replaced.json()["custom_attributes"] == {"plan": "Team"}
    assert replaced.json()["email"] is None
    assert replaced.json()["name"] == "Maya Chen"
    renamed = await client.patch(path, json={"name": "  Maya C.  "}, headers=api.a.headers)
    assert renamed.json()["name"] == "Maya C."
    listed = (await client.get("/v1/contacts", headers=agent)).json()["items"]
    assert next(c for c in listed if c["id"] == contact["id"]) == renamed.json()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "phone": "1" * 41},
        {"name": "x", "phone": "   "},
        {"name": "x", "phone": "1\x002"},
        {"name": "x", "custom_attributes": {f"k{n}": n for n in range(51)}},
        {"name": "x", "custom_attributes": {"": 1}},
        {"name": "x", "custom_attributes": {"k" * 65: 1}},
        {"name": "x", "custom_attributes": {"k": "v" * 501}},
        {"name": "x", "custom_attributes": {"k": [1]}},
        {"name": "x", "custom_attributes": {"k": {"nested": 1}}},
        {"name": "x", "custom_attributes": {"k": None}},
        {"name": "x", "custom_attributes": {"k": 2**63}},
        {"name": "x", "custom_attributes": {"k": 1e300}},
        {"name": "x", "custom_attributes": {"k": "a\x00b"}},
        {"name": "x", "custom_attributes": []},
        {"name": "x", "custom_attributes": "plan=pro"},
    ],
)
async def test_bad_contact_details_are_refused(api: Api, body: dict[str, Any]) -> None:
    assert_error(await api.client.post("/v1/contacts", json=body, headers=api.agent), 422)
    patch = {k: v for k, v in body.items() if k != "name"}
    path = f"/v1/contacts/{api.a.contact_id}"
    assert_error(await api.client.patch(path, json=patch, headers=api.agent), 422)


async def test_contact_limits_are_inclusive(api: Api) -> None:
    attributes = {"k" * 64: "v" * 500, **{f"k{n}": n for n in range(49)}}
    body = {"name": "x", "phone": "1" * 40, "custom_attributes": attributes}
    made = await api.client.post("/v1/contacts", json=body, headers=api.agent)
    assert made.status_code == 201, made.text
    assert made.json()["custom_attributes"] == attributes


@pytest.mark.parametrize(
    "body", [{}, {"name": None}, {"custom_attributes": None}, {"name": ""}, {"nick": "x"}]
)
async def test_a_patch_must_change_something_valid(api: Api, body: dict[str, Any]) -> None:
    path = f"/v1/contacts/{api.a.contact_id}"
    assert_error(await api.client.patch(path, json=body, headers=api.agent), 422)


async def test_another_accounts_contact_is_not_found(api: Api) -> None:
    client, theirs = api.client, api.b.contact_id
    assert_error(
        await client.patch(f"/v1/contacts/{theirs}", json={"phone": "1"}, headers=api.agent), 404
    )
    assert_error(await client.get(f"/v1/contacts/{theirs}/conversations", headers=api.agent), 404)
    assert_error(await client.get("/v1/contacts/999999999/conversations", headers=api.agent), 404)
    kept = (await client.get(f"/v1/contacts/{theirs}", headers=api.b.headers)).json()
    assert kept["phone"] is None


async def _conversation(api: Api, contact_id: int, *times: str) -> int:
    """A conversation of the contact with one imported customer message at each time."""
    made = await api.client.post(
        "/v1/conversations",
        json={"inbox_id": api.a.inbox_id, "contact_id": contact_id},
        headers=api.a.headers,
    )
    assert made.status_code == 201, made.text
    conversation: int = made.json()["id"]
    for moment in times:
        imported = await api.client.post(
            f"/v1/conversations/{conversation}/messages:import",
            json={"content": f"at {moment}", "created_at": moment},
            headers=api.a.headers,
        )
        assert imported.status_code == 201, imported.text
    return conversation


async def test_a_contacts_conversations_newest_activity_first(api: Api) -> None:
    contact = (
        await api.client.post("/v1/contacts", json={"name": "Ann"}, headers=api.agent)
    ).json()["id"]
    # Imported history: the last activity is each conversation's newest message's time,
    # whatever the order of the imports, and an older message does not move it back.
    oldest = await _conversation(api, contact, "2026-11-01T10:00:00Z")
    newest = await _conversation(api, contact, "2026-11-03T09:00:00Z", "2026-11-03T08:00:00Z")
    middle = await _conversation(api, contact, "2026-11-02T10:00:00Z")
    await _conversation(api, api.a.contact_id, "2026-11-02T11:00:00Z")  # another contact's
    path = f"/v1/contacts/{contact}/conversations"
    first = (await api.client.get(f"{path}?limit=2", headers=api.agent)).json()
    assert [c["id"] for c in first["items"]] == [newest, middle]
    assert first["items"][0]["last_activity_at"] == "2026-11-03T09:00:00Z"
    assert first["offset"] > 0
    second = (
        await api.client.get(f"{path}?limit=2&cursor={first['next_cursor']}", headers=api.agent)
    ).json()
    assert [c["id"] for c in second["items"]] == [oldest]
    assert second["next_cursor"] is None
    # The account's list agrees, and a live reply moves the conversation to the top.
    everything = (await api.client.get("/v1/conversations", headers=api.agent)).json()["items"]
    ours = [c["id"] for c in everything if c["contact_id"] == contact]
    assert ours == [newest, middle, oldest]
    reply = await api.client.post(
        f"/v1/conversations/{oldest}/messages", json={"content": "hello"}, headers=api.agent
    )
    assert reply.status_code == 201, reply.text
    again = (await api.client.get(path, headers=api.agent)).json()["items"]
    assert [c["id"] for c in again] == [oldest, newest, middle]
    empty = (await api.client.post("/v1/contacts", json={"name": "New"}, headers=api.agent)).json()
    none = await api.client.get(f"/v1/contacts/{empty['id']}/conversations", headers=api.agent)
    assert none.json()["items"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "cursor=%25%25", "cursor=MXwy"])
async def test_bad_paging_of_a_contacts_conversations(api: Api, query: str) -> None:
    path = f"/v1/contacts/{api.a.contact_id}/conversations?{query}"
    assert_error(await api.client.get(path, headers=api.agent), 422)


async def test_imported_replies_name_their_agent(api: Api) -> None:
    conversation = await _conversation(api, api.a.contact_id)
    agents = (await api.client.get("/v1/agents", headers=api.a.headers)).json()["items"]
    agent_id = next(a["id"] for a in agents if a["role"] == "agent")
    path = f"/v1/conversations/{conversation}/messages:import"
    reply = await api.client.post(
        path,
        json={"content": "done", "kind": "outgoing", "sender_id": agent_id},
        headers=api.a.headers,
    )
    assert reply.status_code == 201, reply.text
    assert (reply.json()["sender_type"], reply.json()["sender_id"]) == ("agent", agent_id)
    incoming = {"content": "hi", "kind": "incoming", "sender_id": agent_id}
    assert_error(await api.client.post(path, json=incoming, headers=api.a.headers), 422)
    theirs = {"content": "x", "kind": "note", "sender_id": api.b.admin_id}
    assert_error(await api.client.post(path, json=theirs, headers=api.a.headers), 404)
