"""The demo account as `livedesk standalone` and `livedesk dev` make it, on SQLite and on
PostgreSQL: its agents log in, its contacts have phones and attributes, its conversations
come in every status, assigned and not, each a plausible exchange in time order, and the
list orders them by their history's times, newest first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from livedesk.shared.bus.memory import MemoryBus
from livedesk.standalone import demo
from livedesk.standalone.demo_data import AGENTS, CONTACTS
from tests.support.api import InProcessApi, api_settings, bearer, in_process_api

PASSWORD = "demo password for tests"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[InProcessApi]:
    async with in_process_api(api_settings(database_url, tmp_path), MemoryBus()) as app:
        context = app.context
        assert await demo.ensure_demo(context.engine, context.passwords, app.client, PASSWORD, NOW)
        # Once only: a database with an account is left as it is.
        assert not await demo.ensure_demo(context.engine, context.passwords, app.client, "x")
        yield app


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    answer = await client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return bearer(answer.json()["access_token"])


async def _all(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, params=query, headers=headers)).json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


async def test_the_demo_looks_like_a_support_teams_inbox(app: InProcessApi) -> None:
    client = app.client
    admin = await _login(client, demo.ADMIN.email)
    agents = await _all(client, "/v1/agents", admin)
    assert {(a["email"], a["name"], a["role"]) for a in agents} == {
        (a.email, a.name, a.role) for a in AGENTS
    }
    for agent in AGENTS[1:]:  # every agent signs in with the demo's password
        await _login(client, agent.email)
    ids = {a["email"]: a["id"] for a in agents}

    contacts = await _all(client, "/v1/contacts", admin)
    assert len(contacts) == len(CONTACTS) >= 20
    assert all(c["email"] and c["phone"] and c["custom_attributes"] for c in contacts)
    assert len({c["name"] for c in contacts}) == len(contacts)
    assert {"plan", "country"} <= set().union(*(c["custom_attributes"] for c in contacts))

    conversations = await _all(client, "/v1/conversations", admin)
    assert len(conversations) == len(demo.STATUSES)
    by_status = Counter(c["status"] for c in conversations)
    assert by_status == {"open": 11, "pending": 6, "resolved": 13}
    unassigned = [c for c in conversations if c["assignee_id"] is None]
    assert len(unassigned) == 4
    assert all(c["status"] == "open" for c in unassigned)
    assert len({c["assignee_id"] for c in conversations} - {None}) == len(AGENTS)
    # Newest activity first, spread over the last days: the order of the history's times.
    activity = [datetime.fromisoformat(c["last_activity_at"]) for c in conversations]
    assert activity == sorted(activity, reverse=True)
    assert NOW - timedelta(days=4) < activity[-1] < activity[0] < NOW
    assert activity[0] - activity[-1] > timedelta(days=2)

    authors: Counter[str] = Counter()
    senders: set[int] = set()
    for conversation in conversations:
        messages = await _all(client, f"/v1/conversations/{conversation['id']}/messages", admin)
        times = [datetime.fromisoformat(m["created_at"]) for m in messages]
        assert times == sorted(times), conversation  # imported in the order written
        assert times[-1] == activity[conversations.index(conversation)]
        first, last = messages[0], messages[-1]
        assert (first["kind"], first["sender_id"]) == ("incoming", conversation["contact_id"])
        if conversation["status"] == "pending":  # waiting for the customer
            assert last["kind"] == "outgoing"
        if conversation["assignee_id"] is None:
            assert {m["kind"] for m in messages} == {"incoming"}
        for message in messages:
            authors[message["kind"]] += 1
            if message["kind"] != "incoming":
                senders.add(message["sender_id"])
        # The admin has read what no longer waits; open ones show as unread.
        assert (conversation["unread_count"] == 0) == (conversation["status"] != "open")
    assert authors["note"] >= 10
    assert authors["outgoing"] >= 20
    assert senders == set(ids.values())  # every agent wrote some of it
    # A contact who wrote in twice has both conversations in its list.
    repeat = next(c for c in contacts if c["name"] == CONTACTS[0].name)
    theirs = await client.get(f"/v1/contacts/{repeat['id']}/conversations", headers=admin)
    assert len(theirs.json()["items"]) == 2
