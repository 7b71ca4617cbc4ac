"""The REST API end to end: every endpoint, its happy path and its refusals.

Runs against a real `livedesk api` process on PostgreSQL and the shared RabbitMQ (accounts
made with `livedesk bootstrap`), and in-process on SQLite with the memory bus (the
standalone combination), each with either route for message posts. Wrong account is 404,
no or bad token 401, wrong role 403, bad bodies 422, oversize bodies 413.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.accounts import create_account
from livedesk.api.db import make_engine
from livedesk.api.passwords import Passwords
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.events import MAX_CONTENT_CHARS, decode_persistent
from livedesk.shared.tokens import TokenVerifier, public_key_from_jwks
from tests.support.api import (
    PASSWORD,
    ApiProcess,
    Tenant,
    api_settings,
    bearer,
    in_process_api,
    livedesk,
    livedesk_env,
    login,
    make_tenant,
    open_conversation,
    postgres_database,
    spread_account_ids,
)
from tests.support.backends import DEPLOYMENT_PARAMS, Database, Route, route_env

ACCOUNTS = ("Acme", "Globex")


@dataclass
class Backend:
    name: Database
    route: Route
    url: str | None = None  # the process's base URL (postgres)
    database_url: str | None = None


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """One API process (and database) per module; each test makes its own accounts."""
    database: Database
    route: Route
    database, route = request.param
    if database == "sqlite":
        yield Backend(database, route)
        return
    tmp_path = tmp_path_factory.mktemp("api")
    postgres_url = request.getfixturevalue("postgres_url")
    amqp_url = request.getfixturevalue("amqp_url")
    with postgres_database(postgres_url) as database_url:
        env = livedesk_env(
            {
                "LIVEDESK_DATABASE_URL": database_url,
                "LIVEDESK_AMQP_URL": amqp_url,
                "LIVEDESK_DATA_DIR": str(tmp_path),
                **route_env(route),
            }
        )
        migrated = livedesk("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        asyncio.run(spread_account_ids(database_url))
        # `livedesk bootstrap` prints one JSON object; the same e-mail again makes another
        # account (an address is unique within an account only).
        email = "first@acme.example.org"
        args = ("bootstrap", "--account", "A", "--email", email, "--password", PASSWORD)
        made = livedesk(*args, env=env)
        assert made.returncode == 0, made.stderr
        assert set(json.loads(made.stdout)) == {"account_id", "user_id"}
        again = livedesk(*args, env=env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["account_id"] != json.loads(made.stdout)["account_id"]
        with ApiProcess(env) as process:
            yield Backend(database, route, process.url, database_url)


@dataclass
class Api:
    client: httpx.AsyncClient
    a: Tenant
    b: Tenant
    tag: str  # makes this test's e-mails unique in a shared database

    @property
    def a_email(self) -> str:
        return f"admin-{self.tag}@acme.example.org"


@pytest.fixture
async def api(backend: Backend, tmp_path: Path) -> AsyncIterator[Api]:
    tag = uuid.uuid4().hex[:8]
    if backend.url is not None:
        assert backend.database_url is not None
        engine = make_engine(backend.database_url)
        passwords = Passwords(time_cost=1, memory_kib=8)
        try:
            async with httpx.AsyncClient(base_url=backend.url, timeout=10) as client:
                a = await _tenant(client, engine, passwords, ACCOUNTS[0], tag)
                b = await _tenant(client, engine, passwords, ACCOUNTS[1], tag)
                yield Api(client, a, b, tag)
        finally:
            await engine.dispose()
        return
    settings = api_settings(
        f"sqlite+aiosqlite:///{tmp_path}/api.db",
        tmp_path,
        fast_message_route=backend.route == "fast",
    )
    async with in_process_api(settings, MemoryBus()) as app:
        context = app.context
        tenants = [
            await _tenant(app.client, context.engine, context.passwords, n, tag) for n in ACCOUNTS
        ]
        yield Api(app.client, tenants[0], tenants[1], tag)


async def _tenant(
    client: httpx.AsyncClient, engine: AsyncEngine, passwords: Passwords, name: str, tag: str
) -> Tenant:
    email = f"admin-{tag}@{name.lower()}.example.org"
    made = await create_account(engine, passwords, name=name, email=email, password=PASSWORD)
    return await make_tenant(client, email, made.account_id, made.user_id)


async def add_agent(api: Api, name: str, role: str = "agent") -> tuple[int, dict[str, str]]:
    email = f"{name.split('@')[0]}-{api.tag}@acme.example.org"
    body = {"email": email, "password": PASSWORD, "name": "Agent", "role": role}
    made = await api.client.post("/v1/agents", json=body, headers=api.a.headers)
    assert made.status_code == 201, made.text
    return made.json()["id"], bearer(await login(api.client, email))


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body) == {"code", "message"}


async def test_login_and_tokens(api: Api) -> None:
    client = api.client
    wrong = await client.post(
        "/v1/auth/token", json={"email": api.a_email, "password": "not it at all"}
    )
    assert_error(wrong, 401, "invalid_credentials")
    unknown = await client.post(
        "/v1/auth/token", json={"email": "no@one.example.org", "password": "x"}
    )
    assert_error(unknown, 401, "invalid_credentials")
    assert_error(await client.post("/v1/auth/token", json={"email": "a"}), 422, "invalid_request")
    good = await client.post(
        "/v1/auth/token", json={"email": api.a_email.upper(), "password": PASSWORD}
    )
    assert good.status_code == 200
    assert good.json()["token_type"] == "bearer"
    assert good.json()["expires_in"] > 0
    # The published key verifies the token, and the token names the user, account and role.
    keys = (await client.get("/.well-known/jwks.json")).json()
    claims = TokenVerifier(public_key_from_jwks(keys), issuer="livedesk").verify(
        good.json()["access_token"]
    )
    assert (claims.account_id, claims.user_id, claims.role) == (
        api.a.account_id,
        api.a.admin_id,
        "admin",
    )
    assert_error(await client.get("/v1/conversations"), 401, "not_authenticated")
    assert_error(
        await client.get("/v1/conversations", headers=bearer("not.a.token")), 401, "token_invalid"
    )
    tampered = api.a.token[:-4] + ("AAAA" if not api.a.token.endswith("AAAA") else "BBBB")
    assert_error(await client.get("/v1/agents", headers=bearer(tampered)), 401, "token_invalid")
    assert_error(
        await client.get("/v1/events", headers={"Authorization": "Basic abc"}),
        401,
        "not_authenticated",
    )


async def test_agents_roles_and_availability(api: Api) -> None:
    client = api.client
    agent_id, agent = await add_agent(api, "agent@acme.example.org")
    duplicate = {"email": f"agent-{api.tag}@acme.example.org", "password": PASSWORD, "name": "X"}
    assert_error(
        await client.post("/v1/agents", json=duplicate, headers=api.a.headers), 409, "conflict"
    )
    assert_error(
        await client.post(
            "/v1/agents",
            json={"email": "bad", "password": "short", "name": ""},
            headers=api.a.headers,
        ),
        422,
        "invalid_request",
    )
    listed = (await client.get("/v1/agents", headers=agent)).json()
    assert [item["id"] for item in listed["items"]] == [api.a.admin_id, agent_id]
    assert "offset" in listed
    # An agent may not add agents, change roles, or touch another agent's availability.
    new = {"email": "x@acme.example.org", "password": PASSWORD, "name": "X"}
    assert_error(await client.post("/v1/agents", json=new, headers=agent), 403, "forbidden")
    assert_error(
        await client.patch(f"/v1/agents/{agent_id}", json={"role": "admin"}, headers=agent),
        403,
        "forbidden",
    )
    assert_error(
        await client.patch(
            f"/v1/agents/{api.a.admin_id}", json={"availability": "away"}, headers=agent
        ),
        403,
        "forbidden",
    )
    own = await client.patch(f"/v1/agents/{agent_id}", json={"availability": "busy"}, headers=agent)
    assert own.status_code == 200
    assert own.json()["availability"] == "busy"
    assert_error(
        await client.patch(
            f"/v1/agents/{agent_id}", json={"availability": "offline"}, headers=agent
        ),
        422,
        "invalid_request",
    )
    promoted = await client.patch(
        f"/v1/agents/{agent_id}", json={"role": "admin"}, headers=api.a.headers
    )
    assert promoted.json()["role"] == "admin"
    # Another account's admin sees none of it.
    assert_error(
        await client.get(f"/v1/agents/{agent_id}", headers=api.b.headers), 404, "not_found"
    )
    assert_error(
        await client.patch(f"/v1/agents/{agent_id}", json={"role": "agent"}, headers=api.b.headers),
        404,
        "not_found",
    )
    assert agent_id not in [
        i["id"] for i in (await client.get("/v1/agents", headers=api.b.headers)).json()["items"]
    ]


async def test_inboxes_and_contacts(api: Api) -> None:
    client = api.client
    _, agent = await add_agent(api, "agent2@acme.example.org")
    assert_error(
        await client.post("/v1/inboxes", json={"name": "x"}, headers=agent), 403, "forbidden"
    )
    assert_error(
        await client.post("/v1/inboxes", json={"name": ""}, headers=api.a.headers),
        422,
        "invalid_request",
    )
    made = [
        (await client.post("/v1/contacts", json={"name": f"c{i}"}, headers=agent)).json()["id"]
        for i in range(3)
    ]
    first = (await client.get("/v1/contacts?limit=2", headers=agent)).json()
    assert [c["id"] for c in first["items"]] == [api.a.contact_id, made[0]]
    second = (
        await client.get(f"/v1/contacts?limit=2&cursor={first['next_cursor']}", headers=agent)
    ).json()
    assert [c["id"] for c in second["items"]] == made[1:]
    assert second["next_cursor"] is None
    assert_error(await client.get("/v1/contacts?cursor=%%%", headers=agent), 422, "invalid_request")
    got = await client.get(f"/v1/inboxes/{api.a.inbox_id}", headers=agent)
    assert got.json()["name"] == "web"
    assert_error(
        await client.get(f"/v1/inboxes/{api.a.inbox_id}", headers=api.b.headers), 404, "not_found"
    )
    assert_error(
        await client.get(f"/v1/contacts/{made[0]}", headers=api.b.headers), 404, "not_found"
    )
    others = (await client.get("/v1/inboxes", headers=api.b.headers)).json()["items"]
    assert [i["id"] for i in others] == [api.b.inbox_id]


async def test_conversations(api: Api) -> None:
    client, a = api.client, api.a
    agent_id, agent = await add_agent(api, "agent3@acme.example.org")
    # References to another account's inbox or contact are not found, never used.
    for body in (
        {"inbox_id": api.b.inbox_id, "contact_id": a.contact_id},
        {"inbox_id": a.inbox_id, "contact_id": api.b.contact_id},
        {"inbox_id": a.inbox_id, "contact_id": a.contact_id, "assignee_id": api.b.admin_id},
    ):
        assert_error(
            await client.post("/v1/conversations", json=body, headers=a.headers), 404, "not_found"
        )
    assert_error(
        await client.post("/v1/conversations", json={"inbox_id": "x"}, headers=a.headers),
        422,
        "invalid_request",
    )
    ids = [await open_conversation(client, a) for _ in range(3)]
    page = (await client.get("/v1/conversations?limit=2", headers=agent)).json()
    assert [c["id"] for c in page["items"]] == [ids[2], ids[1]]  # newest activity first
    rest = (
        await client.get(f"/v1/conversations?limit=2&cursor={page['next_cursor']}", headers=agent)
    ).json()
    assert [c["id"] for c in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    # Take one: If-Match guards against a concurrent take.
    taken = await client.patch(
        f"/v1/conversations/{ids[0]}",
        json={"assignee_id": agent_id},
        headers={**agent, "If-Match": '"1"'},
    )
    assert taken.status_code == 200
    assert taken.json()["version"] == 2
    assert taken.headers["ETag"] == '"2"'
    second_take = await client.patch(
        f"/v1/conversations/{ids[0]}",
        json={"assignee_id": a.admin_id, "version": 1},
        headers=a.headers,
    )
    assert second_take.status_code == 409, second_take.text
    assert second_take.json()["code"] == "version_conflict"
    # The agent's take is what the admin is shown: the conversation now, who, and what.
    assert second_take.json()["conversation"]["assignee_id"] == agent_id
    assert second_take.json()["changed_by"] == {"id": agent_id, "name": "Agent"}
    assert second_take.json()["changed"] == ["assignee_id"]
    assert second_take.headers["ETag"] == '"2"'
    resolved = await client.patch(
        f"/v1/conversations/{ids[0]}", json={"status": "resolved", "version": 2}, headers=agent
    )
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["version"] == 3
    same = await client.patch(
        f"/v1/conversations/{ids[0]}", json={"status": "resolved"}, headers=agent
    )
    assert same.json()["version"] == 3  # nothing changed: no new version, no event
    bad: list[dict[str, object]] = [{}, {"status": "closed"}, {"status": None}, {"assignee_id": 0}]
    for bad_body in bad:
        assert_error(
            await client.patch(f"/v1/conversations/{ids[0]}", json=bad_body, headers=agent),
            422,
            "invalid_request",
        )
    assert_error(
        await client.patch(
            f"/v1/conversations/{ids[0]}",
            json={"status": "open"},
            headers={**agent, "If-Match": "x"},
        ),
        422,
        "invalid_request",
    )
    mine = (await client.get("/v1/conversations?assignee=me", headers=agent)).json()["items"]
    assert [c["id"] for c in mine] == [ids[0]]
    unassigned = (
        await client.get("/v1/conversations?assignee=none&status=open", headers=agent)
    ).json()
    assert [c["id"] for c in unassigned["items"]] == [ids[2], ids[1]]
    by_inbox = (
        await client.get(f"/v1/conversations?inbox={a.inbox_id}&status=resolved", headers=agent)
    ).json()
    assert [c["id"] for c in by_inbox["items"]] == [ids[0]]
    assert_error(
        await client.get("/v1/conversations?status=closed", headers=agent), 422, "invalid_request"
    )
    assert_error(
        await client.get("/v1/conversations?assignee=someone", headers=agent),
        422,
        "invalid_request",
    )
    got = await client.get(f"/v1/conversations/{ids[0]}", headers=agent)
    assert got.json()["assignee_id"] == agent_id
    assert got.json()["offset"] == 5
    # Another account: not found, for reads and writes alike, and absent from its lists.
    assert_error(
        await client.get(f"/v1/conversations/{ids[0]}", headers=api.b.headers), 404, "not_found"
    )
    assert_error(
        await client.patch(
            f"/v1/conversations/{ids[0]}", json={"status": "open"}, headers=api.b.headers
        ),
        404,
        "not_found",
    )
    assert (await client.get("/v1/conversations", headers=api.b.headers)).json()["items"] == []
    # The log tells the same story: opened x3, assigned, resolved; nothing for the no-op.
    events = (await client.get("/v1/events", headers=agent)).json()["events"]
    assert [e["type"] for e in events] == ["new_conversation"] * 3 + ["conversation_updated"] * 2
    assert events[3]["data"]["changed"] == ["assignee_id"]
    assert events[4]["data"]["changed"] == ["status"]
    assert events[4]["data"]["conversation"]["status"] == "resolved"


async def test_messages_read_pointer_and_idempotency(api: Api) -> None:
    client, a = api.client, api.a
    agent_id, agent = await add_agent(api, "agent4@acme.example.org")
    conversation = await open_conversation(client, a)
    url = f"/v1/conversations/{conversation}/messages"
    # The contact's message, as the admin imports it.
    incoming = await client.post(
        url + ":import", json={"content": "help!", "client_id": "w-1"}, headers=a.headers
    )
    assert incoming.status_code == 201
    assert incoming.json()["sender_type"] == "contact"
    assert incoming.json()["sender_id"] == a.contact_id
    retry = await client.post(
        url + ":import", json={"content": "help!", "client_id": "w-1"}, headers=a.headers
    )
    assert retry.status_code == 200
    assert retry.json() == incoming.json()
    reply = await client.post(url, json={"content": "on it", "kind": "outgoing"}, headers=agent)
    note = await client.post(url, json={"content": "vip", "kind": "note"}, headers=agent)
    assert reply.status_code == note.status_code == 201
    assert reply.json()["sender_id"] == agent_id
    assert reply.json()["sender_type"] == "agent"
    for body in (
        {"content": ""},
        {"content": "x", "kind": "shout"},
        {"content": "x", "client_id": "c" * 129},
        {"content": "x" * (MAX_CONTENT_CHARS + 1)},
        {"content": "x", "extra": 1},
    ):
        assert_error(await client.post(url, json=body, headers=agent), 422, "invalid_request")
    huge = await client.post(
        url,
        content=b'{"content": "' + b"x" * 300_000 + b'"}',
        headers={**agent, "Content-Type": "application/json"},
    )
    assert_error(huge, 413, "payload_too_large")
    assert_error(
        await client.post(
            url, content=b"{not json", headers={**agent, "Content-Type": "application/json"}
        ),
        422,
        "invalid_request",
    )
    exactly_max = await client.post(url, json={"content": "y" * MAX_CONTENT_CHARS}, headers=agent)
    assert exactly_max.status_code == 201
    listed = (await client.get(f"{url}?limit=2", headers=agent)).json()
    assert [m["id"] for m in listed["items"]] == [incoming.json()["id"], reply.json()["id"]]
    tail = (await client.get(f"{url}?cursor={listed['next_cursor']}", headers=agent)).json()
    assert [m["id"] for m in tail["items"]] == [note.json()["id"], exactly_max.json()["id"]]
    # Unread: the agent has not read the contact's message; their own do not count.
    got = (await client.get(f"/v1/conversations/{conversation}", headers=agent)).json()
    assert got["unread_count"] == 1
    read = await client.post(
        f"/v1/conversations/{conversation}/read",
        json={"message_id": incoming.json()["id"]},
        headers=agent,
    )
    assert read.status_code == 200
    assert read.json()["unread_count"] == 0
    back = await client.post(
        f"/v1/conversations/{conversation}/read",
        json={"message_id": incoming.json()["id"]},
        headers=agent,
    )
    assert back.json()["message_id"] == incoming.json()["id"]  # not forward: no event
    assert_error(
        await client.post(
            f"/v1/conversations/{conversation}/read", json={"message_id": 10**12}, headers=agent
        ),
        404,
        "not_found",
    )
    assert_error(
        await client.post(f"/v1/conversations/{conversation}/read", json={}, headers=agent),
        422,
        "invalid_request",
    )
    # Another account can neither read nor write this conversation's messages.
    assert_error(await client.get(url, headers=api.b.headers), 404, "not_found")
    assert_error(
        await client.post(url, json={"content": "hi"}, headers=api.b.headers), 404, "not_found"
    )
    assert_error(
        await client.post(
            f"/v1/conversations/{conversation}/read",
            json={"message_id": incoming.json()["id"]},
            headers=api.b.headers,
        ),
        404,
        "not_found",
    )
    replay = (await client.get("/v1/events", headers=agent)).json()
    events = [decode_persistent(json.dumps(e)) for e in replay["events"]]
    assert [e.type for e in events] == ["new_conversation"] + ["new_message"] * 4 + ["message_read"]
    assert [e.offset for e in events] == list(range(1, 7))
    assert replay["latest_offset"] == 6
    assert (await client.get("/v1/events", headers=api.b.headers)).json() == {
        "events": [],
        "latest_offset": 0,
    }


async def test_replay_bounds_and_operations(api: Api) -> None:
    client, a = api.client, api.a
    conversation = await open_conversation(client, a)
    for i in range(4):
        await client.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": f"m{i}"},
            headers=a.headers,
        )
    page = (await client.get("/v1/events?after=2&limit=2", headers=a.headers)).json()
    assert [e["offset"] for e in page["events"]] == [3, 4]
    assert page["latest_offset"] == 5
    beyond = (await client.get("/v1/events?after=99", headers=a.headers)).json()
    assert beyond == {"events": [], "latest_offset": 5}
    for query in ("after=-1", "limit=0", "limit=100000", "after=x"):
        assert_error(
            await client.get(f"/v1/events?{query}", headers=a.headers), 422, "invalid_request"
        )
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert_error(await client.get("/v1/nowhere", headers=a.headers), 404, "not_found")
    assert_error(await client.delete("/v1/agents", headers=a.headers), 405, "method_not_allowed")
    assert (await client.get("/docs")).status_code == 200
    assert (
        "/v1/conversations/{conversation_id}/messages"
        in (await client.get("/openapi.json")).json()["paths"]
    )
    for _ in range(100):  # the relay publishes within moments; readiness follows
        ready = await client.get("/readyz")
        if ready.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}
    metrics = (await client.get("/metrics")).text
    assert "livedesk_api_requests_total" in metrics
    assert "livedesk_outbox_commit_to_publish_seconds_bucket" in metrics
    assert "livedesk_outbox_backlog" in metrics
