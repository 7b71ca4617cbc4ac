"""The fast route for posting messages (`fast_messages`), on each database, in front of a
recording app: which requests it answers itself, and that everything else reaches FastAPI
unchanged, body included, with nothing written. That the answers clients see are the
FastAPI route's, byte for byte: test_api_message_routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlmodel import col
from starlette.types import Receive, Scope, Send

from livedesk.api.fast_messages import FastMessagePost
from livedesk.api.models import Event
from livedesk.api.routes import messages
from livedesk.shared.bus.memory import MemoryBus
from tests.support.api import (
    InProcessApi,
    Tenant,
    admin_email,
    api_settings,
    in_process_api,
    make_tenant,
    open_conversation,
)

HANDED_ON = 418  # what the recording app answers: "FastAPI got this one"


@dataclass
class Recorder:
    """Stands for FastAPI behind the fast path: records each request that reaches it."""

    seen: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.seen.append((scope["method"], scope["path"], body))
        await send({"type": "http.response.start", "status": HANDED_ON, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Setup:
    app: InProcessApi
    tenants: list[Tenant]
    conversations: list[int]
    recorder: Recorder
    fast: httpx.AsyncClient  # the fast path in front of the recorder


@pytest.fixture
async def setup(any_database: tuple[str, list[int]], tmp_path: Path) -> AsyncIterator[Setup]:
    database_url, accounts = any_database
    async with in_process_api(api_settings(database_url, tmp_path), MemoryBus()) as app:
        tenants = [
            await make_tenant(app.client, admin_email(n), account, 0)
            for n, account in enumerate(accounts)
        ]
        conversations = [await open_conversation(app.client, t) for t in tenants]
        recorder = Recorder()
        route = next(
            r
            for r in messages.router.routes
            if isinstance(r, APIRoute) and r.endpoint is messages.create_message
        )
        fast = FastMessagePost(
            recorder, store=app.context.store, tokens=app.context.access, route=route
        )
        transport = httpx.ASGITransport(app=fast)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Setup(app, tenants, conversations, recorder, client)


def path(conversation: int) -> str:
    return f"/v1/conversations/{conversation}/messages"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_messages(setup: Setup) -> int:
    async with setup.app.context.engine.connect() as connection:
        found = await connection.execute(
            select(func.count()).where(col(Event.type) == "new_message")
        )
        return int(found.scalar_one())


async def test_a_good_post_is_answered_here_and_a_retry_gets_the_first_message(
    setup: Setup,
) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    body = {"content": "hello", "client_id": "c-1"}
    first = await setup.fast.post(path(conversation), json=body, headers=bearer(tenant.token))
    again = await setup.fast.post(path(conversation), json=body, headers=bearer(tenant.token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["content-type"] == "application/json"
    assert again.json() == first.json()
    assert first.json()["content"] == "hello"
    assert first.json()["conversation_id"] == conversation
    assert first.json()["account_id"] == tenant.account_id
    assert setup.recorder.seen == []
    assert await new_messages(setup) == 1


def forged(token: str) -> str:
    head, payload, signature = token.split(".")
    return ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))


@pytest.mark.parametrize(
    "case",
    [
        "no token",
        "basic auth",
        "forged token",
        "not json",
        "unknown field",
        "empty content",
        "text/plain",
        "leading zero in the id",
        "another account's conversation",
    ],
)
async def test_what_it_cannot_answer_reaches_fastapi_unchanged_and_writes_nothing(
    setup: Setup, case: str
) -> None:
    token, conversation = setup.tenants[0].token, setup.conversations[0]
    url, headers = path(conversation), bearer(token) | {"Content-Type": "application/json"}
    content = b'{"content": "hi"}'
    match case:
        case "no token":
            del headers["Authorization"]
        case "basic auth":
            headers["Authorization"] = "Basic dXNlcjpwYXNz"
        case "forged token":
            headers = bearer(forged(token)) | {"Content-Type": "application/json"}
        case "not json":
            content = b"{content: hi"
        case "unknown field":
            content = b'{"content": "hi", "colour": "red"}'
        case "empty content":
            content = b'{"content": ""}'
        case "text/plain":
            headers["Content-Type"] = "text/plain"
        case "leading zero in the id":
            url = f"/v1/conversations/0{conversation}/messages"
        case "another account's conversation":
            url = path(setup.conversations[1])
    answer = await setup.fast.post(url, content=content, headers=headers)
    assert answer.status_code == HANDED_ON
    assert setup.recorder.seen == [("POST", url, content)]
    assert await new_messages(setup) == 0


async def test_other_requests_pass_by(setup: Setup) -> None:
    token, conversation = setup.tenants[0].token, setup.conversations[0]
    await setup.fast.get(path(conversation), headers=bearer(token))
    await setup.fast.post(f"/v1/conversations/{conversation}/read", json={"message_id": 1})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"content": '
        yield b'"in chunks"}'

    # No Content-Length: the body limit counts chunked uploads, so they take the route.
    await setup.fast.post(path(conversation), content=chunks(), headers=bearer(token))
    assert [(method, url) for method, url, _ in setup.recorder.seen] == [
        ("GET", path(conversation)),
        ("POST", f"/v1/conversations/{conversation}/read"),
        ("POST", path(conversation)),
    ]
    assert setup.recorder.seen[-1][2] == b'{"content": "in chunks"}'
