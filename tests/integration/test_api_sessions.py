"""Sessions and taking access away, over REST, against a real `livedesk api` process on
PostgreSQL and on SQLite, with either route for message posts (the fast one and FastAPI's).

Refresh rotates and a reused refresh token revokes its family; logout ends one session only;
disabling, revoking and password resets end every session (refresh and the old access
token refused, on both message routes); a role change is in force after a refresh; and each
refusal: wrong current password, not an admin, another account's agent (404, as absent).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tests.support.api import PASSWORD, bearer, livedesk
from tests.support.backends import ADMIN_EMAIL, RunningApi

REFRESH_COOKIE = "livedesk_refresh"


class Agent:
    """A user signed in from one client: its cookie jar holds the session's refresh token."""

    def __init__(self, http: httpx.AsyncClient, email: str, token: str) -> None:
        self.http, self.email, self.token = http, email, token

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def claims(self) -> dict[str, Any]:
        return dict(jwt.decode(self.token, options={"verify_signature": False}))

    async def refresh(self) -> httpx.Response:
        response = await self.http.post("/v1/auth/refresh")
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response

    async def reads(self) -> int:
        """The status of a plain authenticated read."""
        return (await self.http.get("/v1/agents", headers=self.headers)).status_code


@pytest.fixture
async def clients(running_api_process: RunningApi) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Separate cookie jars: each is one browser."""
    url = running_api_process.url
    made = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(3)]
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Agent:
    response = await http.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()  # in the cookie only
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/v1/auth" in cookie
    assert "secure" not in cookie  # plain HTTP here
    return Agent(http, email, response.json()["access_token"])


async def new_agent(admin: Agent, role: str = "agent") -> tuple[int, str]:
    email = f"agent-{secrets.token_hex(4)}@acme.test"
    response = await admin.http.post(
        "/v1/agents",
        json={"email": email, "password": PASSWORD, "name": "Agent", "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"]), email


async def conversation(admin: Agent) -> int:
    http, headers = admin.http, admin.headers
    inbox = (await http.post("/v1/inboxes", json={"name": "web"}, headers=headers)).json()
    contact = (await http.post("/v1/contacts", json={"name": "c"}, headers=headers)).json()
    opened = await http.post(
        "/v1/conversations",
        json={"inbox_id": inbox["id"], "contact_id": contact["id"]},
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    return int(opened.json()["id"])


async def posts(agent: Agent, conversation_id: int) -> httpx.Response:
    """A message post: the route chosen by the deployment (fast or FastAPI)."""
    return await agent.http.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"content": "hi", "kind": "outgoing", "client_id": secrets.token_hex(8)},
        headers=agent.headers,
    )


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    clients: list[httpx.AsyncClient],
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    _, email = await new_agent(admin)
    agent = await sign_in(clients[1], email)
    assert agent.claims["sid"] > 0
    first_cookie = clients[1].cookies[REFRESH_COOKIE]
    assert (await agent.refresh()).status_code == 200
    assert clients[1].cookies[REFRESH_COOKIE] != first_cookie
    assert await agent.reads() == 200
    # A thief replays the first refresh token from another machine.
    thief = clients[2]
    thief.cookies.set(REFRESH_COOKIE, first_cookie)
    replay = await thief.post("/v1/auth/refresh")
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_refresh"
    # The whole family is gone: the owner's current refresh token and access token too.
    refused = await agent.refresh()
    assert refused.status_code == 401, refused.text
    assert await agent.reads() == 401
    assert (await agent.http.get("/v1/agents", headers=agent.headers)).json()["code"] == (
        "token_revoked"
    )


async def test_refresh_without_a_cookie_or_with_garbage_is_refused(
    clients: list[httpx.AsyncClient],
) -> None:
    http = clients[0]
    assert (await http.post("/v1/auth/refresh")).status_code == 401
    http.cookies.set(REFRESH_COOKIE, "x" * 43)
    garbage = await http.post("/v1/auth/refresh")
    assert garbage.status_code == 401
    assert garbage.json()["code"] == "invalid_refresh"


async def test_logout_ends_this_session_only(
    clients: list[httpx.AsyncClient], running_api_process: RunningApi
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    _, email = await new_agent(admin)
    laptop, phone = await sign_in(clients[1], email), await sign_in(clients[2], email)
    conversation_id = await conversation(admin)
    out = await laptop.http.post("/v1/auth/logout", headers=laptop.headers)
    assert out.status_code == 204
    assert REFRESH_COOKIE not in laptop.http.cookies  # the cookie is cleared
    assert await laptop.reads() == 401
    assert (await posts(laptop, conversation_id)).status_code == 401
    assert (await laptop.refresh()).status_code == 401
    # The same user's other session goes on.
    assert await phone.reads() == 200
    assert (await posts(phone, conversation_id)).status_code == 201
    assert (await phone.refresh()).status_code == 200
    # Idempotent: logging out again, or with nothing, answers the same.
    assert (await laptop.http.post("/v1/auth/logout")).status_code == 204


async def test_a_disabled_agent_loses_every_session_and_cannot_log_in(
    clients: list[httpx.AsyncClient],
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    agent_id, email = await new_agent(admin)
    one, two = await sign_in(clients[1], email), await sign_in(clients[2], email)
    conversation_id = await conversation(admin)
    assert (await posts(one, conversation_id)).status_code == 201
    disabled = await admin.http.post(f"/v1/agents/{agent_id}/disable", headers=admin.headers)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True
    for agent in (one, two):
        assert await agent.reads() == 401
        refused = await posts(agent, conversation_id)  # the fast route and FastAPI's alike
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "token_revoked"
        assert (await agent.refresh()).status_code == 401
    wrong = await clients[1].post("/v1/auth/token", json={"email": email, "password": "nope-nope"})
    right = await clients[1].post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json()  # a disabled account looks like a wrong password
    enabled = await admin.http.post(f"/v1/agents/{agent_id}/enable", headers=admin.headers)
    assert enabled.status_code == 200
    assert enabled.json()["disabled"] is False
    again = await sign_in(clients[1], email)
    assert await again.reads() == 200
    assert await one.reads() == 401  # the sessions ended by disabling stay ended


async def test_an_admin_revokes_every_session_of_an_agent(
    clients: list[httpx.AsyncClient],
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    agent_id, email = await new_agent(admin)
    one, two = await sign_in(clients[1], email), await sign_in(clients[2], email)
    revoked = await admin.http.post(f"/v1/agents/{agent_id}/sessions/revoke", headers=admin.headers)
    assert revoked.status_code == 204, revoked.text
    for agent in (one, two):
        assert await agent.reads() == 401
        assert (await agent.refresh()).status_code == 401
    assert await (await sign_in(clients[1], email)).reads() == 200  # not disabled
    assert await admin.reads() == 200


async def test_a_role_change_is_in_force_after_the_next_refresh(
    clients: list[httpx.AsyncClient],
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    agent_id, email = await new_agent(admin)
    agent = await sign_in(clients[1], email)
    inbox = {"name": "support"}
    assert (await agent.http.post("/v1/inboxes", json=inbox, headers=agent.headers)).status_code
    promoted = await admin.http.patch(
        f"/v1/agents/{agent_id}", json={"role": "admin"}, headers=admin.headers
    )
    assert promoted.status_code == 200
    assert agent.claims["role"] == "agent"
    assert (await agent.refresh()).status_code == 200
    assert agent.claims["role"] == "admin"
    created = await agent.http.post("/v1/inboxes", json=inbox, headers=agent.headers)
    assert created.status_code == 201, created.text


async def test_an_agent_changes_their_own_password(clients: list[httpx.AsyncClient]) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    agent_id, email = await new_agent(admin)
    here, elsewhere = await sign_in(clients[1], email), await sign_in(clients[2], email)
    path = f"/v1/agents/{agent_id}/password"
    new = "a brand new passphrase"
    missing = await here.http.put(path, json={"password": new}, headers=here.headers)
    assert missing.status_code == 403
    wrong = await here.http.put(
        path, json={"password": new, "current_password": "not it at all"}, headers=here.headers
    )
    assert wrong.status_code == 403
    changed = await here.http.put(
        path, json={"password": new, "current_password": PASSWORD}, headers=here.headers
    )
    assert changed.status_code == 204, changed.text
    assert await here.reads() == 200  # this session stays
    assert (await here.refresh()).status_code == 200
    assert await elsewhere.reads() == 401  # the others end
    old = await clients[2].post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    await sign_in(clients[2], email, new)


async def test_an_admin_resets_a_password_and_every_session_ends(
    clients: list[httpx.AsyncClient],
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    agent_id, email = await new_agent(admin)
    agent = await sign_in(clients[1], email)
    reset = await admin.http.put(
        f"/v1/agents/{agent_id}/password",
        json={"password": "reset by admin"},
        headers=admin.headers,
    )
    assert reset.status_code == 204, reset.text
    assert await agent.reads() == 401
    assert (await agent.refresh()).status_code == 401
    await sign_in(clients[2], email, "reset by admin")


async def test_refusals_say_nothing_of_other_accounts(
    clients: list[httpx.AsyncClient], running_api_process: RunningApi
) -> None:
    admin = await sign_in(clients[0], ADMIN_EMAIL)
    agent_id, email = await new_agent(admin)
    other_id, _ = await new_agent(admin)
    agent = await sign_in(clients[1], email)
    for action in ("disable", "enable", "sessions/revoke"):
        refused = await agent.http.post(f"/v1/agents/{other_id}/{action}", headers=agent.headers)
        assert refused.status_code == 403, (action, refused.text)
    not_mine = await agent.http.put(
        f"/v1/agents/{other_id}/password", json={"password": "x" * 12}, headers=agent.headers
    )
    assert not_mine.status_code == 403
    yourself = await admin.http.post(
        f"/v1/agents/{running_api_process.admin_id}/disable", headers=admin.headers
    )
    assert yourself.status_code == 403
    # Another account's agent is answered as a missing one: same status, same words.
    email_b = f"admin-{secrets.token_hex(4)}@globex.test"
    made = livedesk(
        "bootstrap", "--account", "Globex", "--email", email_b, "--password", PASSWORD,
        env=running_api_process.env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    admin_b = await sign_in(clients[2], email_b)
    missing_id = 2**62
    for target in (agent_id, missing_id):
        for method, action, body in (
            ("POST", "disable", None),
            ("POST", "enable", None),
            ("POST", "sessions/revoke", None),
            ("PUT", "password", {"password": "y" * 12}),
        ):
            answer = await admin_b.http.request(
                method, f"/v1/agents/{target}/{action}", json=body, headers=admin_b.headers
            )
            assert answer.status_code == 404, (action, answer.text)
            assert answer.json() == {"code": "not_found", "message": f"agent {target} not found"}
    assert await agent.reads() == 200  # untouched
