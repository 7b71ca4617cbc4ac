"""The two routes for message posts, the fast one (`fast_messages`) and FastAPI's alone
(`routes.messages`), answer the same requests with the same bytes, on each database.

Two apps side by side, one per route, each on a fresh database of the same kind holding the
same records, with the same clock and the same signing key. Every request, good or bad, is
asked of both in turn: status codes, content types and bodies must be equal byte for byte
(created messages included: the same ids, the same times), and both apps must count the
same requests in their metrics. A few answers are also checked for what they say, so that
two equally wrong routes cannot pass.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from livedesk.api.accounts import create_account
from livedesk.api.db import make_engine
from livedesk.api.fast_messages import FastMessagePost
from livedesk.api.migrate import migrate
from livedesk.api.passwords import Passwords
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.events import MAX_CONTENT_CHARS
from tests.support.api import (
    PASSWORD,
    InProcessApi,
    SettableClock,
    Tenant,
    admin_email,
    api_settings,
    in_process_api,
    make_tenant,
    open_conversation,
    postgres_database,
)
from tests.support.backends import DATABASES

# Room for the longest content and one past it (422), and a body past it is cheap (413).
MAX_BODY_BYTES = 2 * MAX_CONTENT_CHARS
BEYOND = 2**63  # one past the largest id either database can store
MESSAGES = "/v1/conversations/{}/messages"


@dataclass
class Pair:
    fast: InProcessApi
    plain: InProcessApi
    mine: Tenant  # the account whose conversation the requests post to
    other: Tenant
    conversation: int
    others_conversation: int


@pytest.fixture(params=DATABASES)
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh databases of one kind, each with accounts 1 and 2: for the fast route's app
    and for the plain one's."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            urls = [f"sqlite+aiosqlite:///{tmp_path}/{name}.db" for name in ("fast", "plain")]
        else:
            postgres_url = request.getfixturevalue("postgres_url")
            urls = [stack.enter_context(postgres_database(postgres_url)) for _ in range(2)]
        for url in urls:
            asyncio.run(two_accounts(url))
        yield urls[0], urls[1]


async def two_accounts(database_url: str) -> None:
    """Migrate, and make accounts 1 and 2 (ids as a fresh database gives them)."""
    engine = make_engine(database_url)
    passwords = Passwords(time_cost=1, memory_kib=8)
    try:
        await migrate(engine)
        for n in range(2):
            await create_account(
                engine, passwords, name=f"A{n}", email=admin_email(n), password=PASSWORD
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def pair(two_databases: tuple[str, str], tmp_path: Path) -> AsyncIterator[Pair]:
    # One moment for every record and event, so that the two apps write the same bytes.
    clock = SettableClock(fixed=datetime(2026, 12, 4, 10, 11, 12, 131415, tzinfo=UTC))
    async with AsyncExitStack() as stack:
        apps = []
        for url, fast in zip(two_databases, (True, False), strict=True):
            # The same data dir: the same signing key, so a token works on both apps.
            settings = api_settings(
                url, tmp_path, fast_message_route=fast, max_body_bytes=MAX_BODY_BYTES
            )
            api = in_process_api(settings, MemoryBus(), clock)
            apps.append(await stack.enter_async_context(api))
        tenants: list[list[Tenant]] = [[], []]
        conversations: list[list[int]] = [[], []]
        for app, made, opened in zip(apps, tenants, conversations, strict=True):
            for n in range(2):
                tenant = await make_tenant(app.client, admin_email(n), n + 1, n + 1)
                made.append(tenant)
                opened.append(await open_conversation(app.client, tenant))
        assert conversations[0] == conversations[1]
        (mine, other), (conversation, others_conversation) = tenants[0], conversations[0]
        yield Pair(apps[0], apps[1], mine, other, conversation, others_conversation)


def forged(token: str) -> str:
    head, payload, signature = token.split(".")
    return ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))


# A request: method, path, headers, and a body (bytes, or a function making chunks).
Body = bytes | Callable[[], AsyncIterator[bytes]] | None
Request = tuple[str, str, dict[str, str], Body]


def chunks(*parts: bytes) -> Callable[[], AsyncIterator[bytes]]:
    """A body sent in chunks, without Content-Length."""

    async def sent() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    return sent


def requests(pair: Pair) -> dict[str, Request]:
    """Good and bad posts, in the order they are sent; some depend on the ones before."""
    url = MESSAGES.format(pair.conversation)
    token = pair.mine.token
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(body: Any, headers: dict[str, str] = auth, path: str = url) -> Request:
        return "POST", path, headers, json.dumps(body).encode()

    def raw(content: Body, headers: dict[str, str] = auth, path: str = url) -> Request:
        return "POST", path, headers, content

    no_type = {"Authorization": f"Bearer {token}"}
    return {
        "a message": post({"content": "hello"}),
        "with a client_id": post({"content": "hi", "client_id": "c-1"}),
        "its retry": post({"content": "something else", "client_id": "c-1"}),
        "incoming": post({"content": "help!", "kind": "incoming", "client_id": "w-1"}),
        "a note": post({"content": "vip", "kind": "note"}),
        "quotes, emoji, separators": post({"content": 'she said "hi" \\ 🎉 \u2028 \n ok'}),
        "the longest content": post({"content": "y" * MAX_CONTENT_CHARS}),
        "charset in the type": raw(
            b'{"content": "x"}', auth | {"Content-Type": "application/json; charset=utf-8"}
        ),
        "bearer in lower case": raw(
            b'{"content": "x"}', auth | {"Authorization": f"bearer {token}"}
        ),
        "two spaces after Bearer": raw(
            b'{"content": "x"}', auth | {"Authorization": f"Bearer  {token}"}
        ),
        "in chunks": raw(chunks(b'{"content": ', b'"in chunks"}')),
        "no token": raw(b'{"content": "x"}', {"Content-Type": "application/json"}),
        "basic auth": raw(b'{"content": "x"}', auth | {"Authorization": "Basic dXNlcjpwYXNz"}),
        "a forged token": raw(
            b'{"content": "x"}', auth | {"Authorization": f"Bearer {forged(token)}"}
        ),
        "not a token": raw(b'{"content": "x"}', auth | {"Authorization": "Bearer not.a.token"}),
        "an empty bearer": raw(b'{"content": "x"}', auth | {"Authorization": "Bearer "}),
        "broken JSON": raw(b'{"content": "a" "b"}'),
        "broken on line 2": raw(b'{\n  "content": }'),
        "not UTF-8": raw(b'{"content": "\xff"}'),
        "no body": raw(b""),
        "a JSON array": raw(b"[]"),
        "JSON null": raw(b"null"),
        "an unknown field": post({"content": "x", "colour": "red"}),
        "empty content": post({"content": ""}),
        "blank content": post({"content": " \t\n\u3000"}),
        "a NUL": post({"content": "a\x00b"}),
        "a number for content": post({"content": 12}),
        "a client_id too long": post({"content": "x", "client_id": "c" * 129}),
        "a client_id with a NUL": post({"content": "x", "client_id": "c\x00"}),
        "a kind that is not one": post({"content": "x", "kind": "shout"}),
        "content too long": post({"content": "x" * (MAX_CONTENT_CHARS + 1)}),
        "text/plain": raw(b'{"content": "x"}', auth | {"Content-Type": "text/plain"}),
        "no content type": raw(b'{"content": "x"}', no_type),
        "a +json type": raw(b'{"content": "x"}', auth | {"Content-Type": "application/vnd.x+json"}),
        "over the body limit": post({"content": "z" * MAX_BODY_BYTES}),
        "over the limit in chunks": raw(chunks(b'{"content": "', b"z" * MAX_BODY_BYTES, b'"}')),
        "a leading zero in the id": post(
            {"content": "x"}, path=MESSAGES.format(f"0{pair.conversation}")
        ),
        "id zero": post({"content": "x"}, path=MESSAGES.format(0)),
        "an id past 64 bits": post({"content": "x"}, path=MESSAGES.format(BEYOND)),
        "an id of 20 digits": post({"content": "x"}, path=MESSAGES.format("9" * 20)),
        "the largest id": post({"content": "x"}, path=MESSAGES.format(BEYOND - 1)),
        "another account's conversation": post(
            {"content": "x"}, path=MESSAGES.format(pair.others_conversation)
        ),
        "a trailing slash": post({"content": "x"}, path=url + "/"),
        "PUT": ("PUT", url, auth, b'{"content": "x"}'),
    }


async def ask(app: InProcessApi, request: Request) -> httpx.Response:
    method, path, headers, body = request
    content = body() if callable(body) else body
    return await app.client.request(method, path, headers=headers, content=content)


def fast_route_in(app: FastAPI) -> bool:
    return any(
        cast(object, middleware.cls) is FastMessagePost for middleware in app.user_middleware
    )


def counted(registry: CollectorRegistry) -> dict[tuple[str, ...], float]:
    """The request counter's samples, by their labels."""
    return {
        tuple(sample.labels.values()): sample.value
        for metric in registry.collect()
        if metric.name == "livedesk_api_requests"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


async def test_both_routes_answer_every_post_with_the_same_bytes(pair: Pair) -> None:
    assert fast_route_in(pair.fast.app)
    assert not fast_route_in(pair.plain.app)
    answers: dict[str, tuple[int, str | None, bytes]] = {}
    for name, request in requests(pair).items():
        fast, plain = await ask(pair.fast, request), await ask(pair.plain, request)
        seen = [(r.status_code, r.headers.get("content-type"), r.content) for r in (fast, plain)]
        assert seen[0] == seen[1], name
        answers[name] = seen[0]
    assert counted(pair.fast.context.metrics.registry) == counted(
        pair.plain.context.metrics.registry
    )
    # What the answers say, beyond being equal.
    status = {name: answer[0] for name, answer in answers.items()}
    assert [name for name, code in status.items() if code == 201] == [
        "a message", "with a client_id", "a note", "quotes, emoji, separators",
        "the longest content", "charset in the type", "bearer in lower case",
        "two spaces after Bearer", "in chunks", "a +json type", "a leading zero in the id",
    ]  # fmt: skip
    assert status["its retry"] == 200
    assert answers["its retry"][2] == answers["with a client_id"][2]
    assert {status[n] for n in ("no token", "basic auth", "a forged token", "not a token")} == {401}
    assert status["over the body limit"] == status["over the limit in chunks"] == 413
    assert status["another account's conversation"] == status["the largest id"] == 404
    assert status["PUT"] == 405
    # Agents write replies and notes; incoming is the contact's, on either route.
    assert status["incoming"] == 403
    assert json.loads(answers["incoming"][2])["code"] == "forbidden"
    assert status["no body"] == status["an unknown field"] == status["an id past 64 bits"] == 422
    assert 500 not in status.values()
    template = "/v1/conversations/{conversation_id}/messages"
    created = sum(1 for code in status.values() if code == 201)
    assert counted(pair.fast.context.metrics.registry)[("POST", template, "201")] == created
    message = json.loads(answers["a message"][2])
    assert message["created_at"] == "2026-12-04T10:11:12.131415Z"
    assert (message["account_id"], message["sender_id"]) == (pair.mine.account_id, 1)


async def test_both_routes_write_the_same_log(pair: Pair) -> None:
    sent = ("a message", "with a client_id", "its retry", "another account's conversation")
    for name in sent:
        request = requests(pair)[name]
        await ask(pair.fast, request)
        await ask(pair.plain, request)
    logs = [
        (await app.client.get("/v1/events", headers=pair.mine.headers)).content
        for app in (pair.fast, pair.plain)
    ]
    assert logs[0] == logs[1]
    events = json.loads(logs[0])["events"]
    assert [e["type"] for e in events] == ["new_conversation", "new_message", "new_message"]
    assert [e["data"].get("client_id") for e in events[1:]] == [None, "c-1"]
