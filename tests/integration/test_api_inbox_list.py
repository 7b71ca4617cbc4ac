"""What the inbox page reads over REST, on PostgreSQL and SQLite: conversations with their
contact and newest message, the counts beside the list's filters, search over contacts and
messages, messages newest first, and everyone's read pointers.

In-process apps (memory bus) on a real database of each kind; each test makes two accounts
of its own, and each endpoint is tried from the wrong one (404, or nothing found), with
bad input (422 with the error body, never a 500), and across pages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from livedesk.api.accounts import create_account
from livedesk.shared.bus.memory import MemoryBus
from tests.support.api import (
    PASSWORD,
    Tenant,
    api_settings,
    bearer,
    in_process_api,
    login,
    make_tenant,
    postgres_database,
)
from tests.support.backends import DATABASES, Database

STATUSES = ("open", "pending", "snoozed", "resolved")


@pytest.fixture(scope="module", params=DATABASES)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, str]]:
    """One database per module and kind; each test makes accounts of its own in it."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/api.db"
        return
    with postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield "postgres", url


@dataclass
class Desk:
    client: httpx.AsyncClient
    a: Tenant
    b: Tenant  # another account: nothing of a's may show to it
    tag: str

    async def get(self, path: str, tenant: Tenant | None = None, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=(tenant or self.a).headers)

    async def ok(self, path: str, tenant: Tenant | None = None, **params: Any) -> Any:
        response = await self.get(path, tenant, **params)
        assert response.status_code == 200, response.text
        return response.json()

    async def contact(
        self, name: str, email: str | None = None, tenant: Tenant | None = None
    ) -> int:
        body = {"name": name, **({"email": email} if email else {})}
        headers = (tenant or self.a).headers
        made = await self.client.post("/v1/contacts", json=body, headers=headers)
        assert made.status_code == 201, made.text
        ident: int = made.json()["id"]
        return ident

    async def conversation(self, contact_id: int, tenant: Tenant | None = None) -> dict[str, Any]:
        tenant = tenant or self.a
        made = await self.client.post(
            "/v1/conversations",
            json={"inbox_id": tenant.inbox_id, "contact_id": contact_id},
            headers=tenant.headers,
        )
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        return body

    async def post(
        self,
        conversation_id: int,
        content: str,
        kind: str = "outgoing",
        headers: dict[str, str] | None = None,
        tenant: Tenant | None = None,
    ) -> dict[str, Any]:
        made = await self.client.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"content": content, "kind": kind},
            headers=headers or (tenant or self.a).headers,
        )
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        return body

    async def agent(self, name: str) -> tuple[int, dict[str, str]]:
        email = f"{name}-{self.tag}@acme.example.org"
        body = {"email": email, "password": PASSWORD, "name": name.title()}
        made = await self.client.post("/v1/agents", json=body, headers=self.a.headers)
        assert made.status_code == 201, made.text
        return made.json()["id"], bearer(await login(self.client, email))


@pytest.fixture
async def desk(database: tuple[Database, str], tmp_path: Path) -> AsyncIterator[Desk]:
    _kind, url = database
    tag = uuid.uuid4().hex[:8]
    async with in_process_api(api_settings(url, tmp_path), MemoryBus()) as app:
        tenants = []
        for name in ("acme", "globex"):
            email = f"admin-{tag}@{name}.example.org"
            context = app.context
            made = await create_account(
                context.engine, context.passwords, name=name, email=email, password=PASSWORD
            )
            tenants.append(await make_tenant(app.client, email, made.account_id, made.user_id))
        yield Desk(app.client, tenants[0], tenants[1], tag)


def assert_refused(response: httpx.Response, status: int = 422) -> None:
    """The API's error body with `status`: a code for programs, a message for people."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == ("invalid_request" if status == 422 else "not_found")
    assert set(body) == {"code", "message"}
    assert body["message"]


async def test_conversations_carry_their_contact_and_newest_message(desk: Desk) -> None:
    ann = await desk.contact("Ann Lee", "ann@example.com")
    opened = await desk.conversation(ann)
    # Opened: the contact, and no message yet.
    assert opened["contact"] == {"id": ann, "name": "Ann Lee", "email": "ann@example.com"}
    assert opened["last_message"] is None
    conversation = opened["id"]
    await desk.post(conversation, "first")
    reply = await desk.post(conversation, "Hello\n\n   there,\tAnn  ")
    listed = (await desk.ok("/v1/conversations"))["items"]
    assert [c["id"] for c in listed] == [conversation]
    last = listed[0]["last_message"]
    assert last == {
        "id": reply["id"],
        "kind": "outgoing",
        "sender_type": "agent",
        "sender_id": desk.a.admin_id,
        "preview": "Hello there, Ann",
        "created_at": reply["created_at"],
    }
    assert listed[0]["contact"]["name"] == "Ann Lee"
    # A note is the newest message too; a long one is cut for the preview.
    _colleague, colleague = await desk.agent("colleague")
    note = await desk.post(conversation, "word " * 100, kind="note", headers=colleague)
    got = await desk.ok(f"/v1/conversations/{conversation}")
    assert got["last_message"]["id"] == note["id"]
    assert got["last_message"]["kind"] == "note"
    # 140 characters, less the space the cut would end in.
    assert got["last_message"]["preview"] == ("word " * 28).rstrip()
    assert got["unread_count"] == 1  # the colleague's note
    patched = await desk.client.patch(
        f"/v1/conversations/{conversation}", json={"status": "pending"}, headers=desk.a.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["contact"]["id"] == ann
    assert patched.json()["last_message"]["id"] == note["id"]
    # A conversation without a message lists with null, and the contact without an e-mail.
    bob = await desk.contact("Bob")
    quiet = (await desk.conversation(bob))["id"]
    first = (await desk.ok("/v1/conversations", limit=1))["items"][0]
    assert first["id"] == quiet
    assert first["last_message"] is None
    assert first["contact"] == {"id": bob, "name": "Bob", "email": None}
    # The events stay as they were: clients look the contact up by its id.
    events = (await desk.ok("/v1/events"))["events"]
    opened_events = [e for e in events if e["type"] == "new_conversation"]
    updated = [e for e in events if e["type"] == "conversation_updated"]
    assert "contact" not in opened_events[0]["data"]
    assert "last_message" not in updated[0]["data"]["conversation"]
    # Another account sees none of it.
    assert (await desk.ok("/v1/conversations", desk.b))["items"] == []


async def test_counts_per_filter_and_status(desk: Desk) -> None:
    me, mine_headers = await desk.agent("counted")
    contact = await desk.contact("Cat")
    wanted: list[tuple[str, int | None]] = [
        ("open", me),
        ("open", me),
        ("open", None),
        ("pending", None),
        ("snoozed", me),
        ("resolved", desk.a.admin_id),
        ("resolved", None),
    ]
    for status, assignee in wanted:
        conversation = (await desk.conversation(contact))["id"]
        change: dict[str, Any] = {"assignee_id": assignee}
        if status != "open":
            change["status"] = status
        patched = await desk.client.patch(
            f"/v1/conversations/{conversation}", json=change, headers=desk.a.headers
        )
        assert patched.status_code == 200, patched.text
    # Not taken for a conversation's id by /v1/conversations/{conversation_id}.
    answer = (await desk.client.get("/v1/conversations/counts", headers=mine_headers)).json()
    assert answer["counts"] == {
        "mine": {"open": 2, "pending": 0, "snoozed": 1, "resolved": 0},
        "unassigned": {"open": 1, "pending": 1, "snoozed": 0, "resolved": 1},
        "all": {"open": 3, "pending": 1, "snoozed": 1, "resolved": 2},
    }
    listed = await desk.client.get("/v1/conversations", headers=mine_headers)
    assert answer["offset"] == listed.json()["offset"]
    # The admin's "mine" is the admin's; another account has nothing.
    admin = await desk.ok("/v1/conversations/counts")
    assert admin["counts"]["mine"] == {"open": 0, "pending": 0, "snoozed": 0, "resolved": 1}
    other = await desk.ok("/v1/conversations/counts", desk.b)
    zero = dict.fromkeys(STATUSES, 0)
    assert other["counts"] == {"mine": zero, "unassigned": zero, "all": zero}
    unauthenticated = await desk.client.get("/v1/conversations/counts")
    assert unauthenticated.status_code == 401
    # Nor is "counts" an id to change: the method is not allowed there.
    patched = await desk.client.patch(
        "/v1/conversations/counts", json={"status": "open"}, headers=desk.a.headers
    )
    assert patched.status_code == 405, patched.text


async def test_messages_newest_first_page_to_older_ones(desk: Desk) -> None:
    conversation = (await desk.conversation(desk.a.contact_id))["id"]
    ids = [(await desk.post(conversation, f"m{n}"))["id"] for n in range(5)]
    url = f"/v1/conversations/{conversation}/messages"
    seen: list[int] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"order": "desc", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await desk.ok(url, **params)
        seen += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert pages == 3
    # Oldest first stays the default, and its cursor still continues to newer ones.
    first = await desk.ok(url, limit=2)
    assert [m["id"] for m in first["items"]] == ids[:2]
    after = await desk.ok(url, limit=2, order="asc", cursor=first["next_cursor"])
    assert [m["id"] for m in after["items"]] == ids[2:4]
    for bad in ({"order": "sideways"}, {"order": "desc", "cursor": "%%"}, {"limit": 0}):
        assert_refused(await desk.get(url, **bad))
    assert_refused(await desk.get(url, desk.b, order="desc"), 404)


async def test_read_pointers_of_every_agent(desk: Desk) -> None:
    conversation = (await desk.conversation(desk.a.contact_id))["id"]
    first = await desk.post(conversation, "one")
    second = await desk.post(conversation, "two")
    url = f"/v1/conversations/{conversation}/reads"
    assert (await desk.ok(url))["items"] == []
    agent_id, agent = await desk.agent("reader")
    for headers, message in ((agent, first), (desk.a.headers, second)):
        read = await desk.client.post(
            f"/v1/conversations/{conversation}/read",
            json={"message_id": message["id"]},
            headers=headers,
        )
        assert read.status_code == 200, read.text
    items = (await desk.client.get(url, headers=agent)).json()["items"]
    assert {(i["user_id"], i["message_id"]) for i in items} == {
        (agent_id, first["id"]),
        (desk.a.admin_id, second["id"]),
    }
    assert all(i["updated_at"] for i in items)
    # Only this conversation's pointers; not found from another account or for no such id.
    other = (await desk.conversation(desk.a.contact_id))["id"]
    assert (await desk.ok(f"/v1/conversations/{other}/reads"))["items"] == []
    assert_refused(await desk.get(url, desk.b), 404)
    assert_refused(await desk.get("/v1/conversations/999999999/reads"), 404)
    assert_refused(await desk.get("/v1/conversations/x/reads"))


async def test_search_contacts_and_messages(desk: Desk) -> None:
    dana = await desk.contact("Dana Refsgaard", "dana@shipping.example")
    eve = await desk.contact("Eve Martin", "eve@example.org")
    by_contact = (await desk.conversation(dana))["id"]
    by_message = (await desk.conversation(eve))["id"]
    await desk.post(by_message, "I would like a refund for order 1234, please.")
    await desk.post(by_message, "Anything else?")
    noted = (await desk.conversation(eve))["id"]
    note = await desk.post(noted, "Customer asked twice about the REFUND policy", kind="note")
    unrelated = (await desk.conversation(eve))["id"]
    await desk.post(unrelated, "Where is my parcel?")

    async def search(q: str, tenant: Tenant | None = None, **params: Any) -> list[Any]:
        items: list[Any] = (await desk.ok("/v1/search", tenant, q=q, **params))["items"]
        return items

    # "refu" is the start of a word: "refund" and "Refsgaard" match as prefixes (by
    # message and by contact); newest activity first.
    hits = await search("refu")
    assert [h["conversation"]["id"] for h in hits] == [noted, by_message]
    hits = await search("ref")
    assert [h["conversation"]["id"] for h in hits] == [noted, by_message, by_contact]
    by_id = {h["conversation"]["id"]: h for h in hits}
    assert by_id[noted]["message_id"] == note["id"]
    assert "refund" in by_id[noted]["snippet"].lower()
    assert by_id[by_message]["conversation"]["last_message"]["preview"] == "Anything else?"
    assert by_id[by_message]["conversation"]["contact"]["name"] == "Eve Martin"
    assert by_id[by_contact]["message_id"] is None
    assert by_id[by_contact]["snippet"] == "Dana Refsgaard <dana@shipping.example>"
    # Several words: all of them; any case; the e-mail by its parts or whole.
    assert [h["conversation"]["id"] for h in await search("REFUND order")] == [by_message]
    assert [h["conversation"]["id"] for h in await search("refund parcel")] == []
    assert [h["conversation"]["id"] for h in await search("shipping")] == [by_contact]
    assert [h["conversation"]["id"] for h in await search("dana@shipping.example")] == [by_contact]
    parcel = await search("parce")
    assert [h["conversation"]["id"] for h in parcel] == [unrelated]
    # Text with no word in it finds nothing, and query syntax is only text.
    for q in ("?!", "--", "*", '"', "refund OR", 'NEAR("a" "b")', "a:*", "'", "(", "&|!"):
        response = await desk.get("/v1/search", q=q)
        assert response.status_code == 200, (q, response.text)
    assert await search("?!") == []
    # Another account's words are its own: same words, nothing of the other's.
    other_contact = await desk.contact("Refund Robot", tenant=desk.b)
    other = (await desk.conversation(other_contact, desk.b))["id"]
    await desk.post(other, "refund refund", tenant=desk.b)
    assert [h["conversation"]["id"] for h in await search("refund", desk.b)] == [other]
    assert [h["conversation"]["id"] for h in await search("refund")] == [noted, by_message]
    assert [h["conversation"]["id"] for h in await search("robot")] == []


async def test_search_pages_with_a_stable_cursor(desk: Desk) -> None:
    contact = await desk.contact("Pager")
    conversations = []
    for n in range(7):
        conversation = (await desk.conversation(contact))["id"]
        await desk.post(conversation, f"invoice number {n}")
        conversations.append(conversation)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"q": "invoice", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await desk.ok("/v1/search", **params)
        assert len(page["items"]) <= 3
        seen += [h["conversation"]["id"] for h in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == conversations[::-1]
    assert pages == 3
    # The same cursor gives the same page again; a contact match pages the same way.
    first = await desk.ok("/v1/search", q="invoice", limit=3)
    again = await desk.ok("/v1/search", q="invoice", limit=3, cursor=first["next_cursor"])
    repeat = await desk.ok("/v1/search", q="invoice", limit=3, cursor=first["next_cursor"])
    assert again["items"] == repeat["items"]
    by_name = await desk.ok("/v1/search", q="pager", limit=5)
    assert [h["conversation"]["id"] for h in by_name["items"]] == conversations[::-1][:5]
    assert by_name["next_cursor"] is not None


async def test_search_refuses_bad_input(desk: Desk) -> None:
    cases: list[dict[str, str | int]] = [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 201},
        {"q": "a\x00b"},
        {"q": "refund", "limit": 0},
        {"q": "refund", "limit": 101},
        {"q": "refund", "limit": "many"},
        {"q": "refund", "cursor": "not-a-cursor"},
        {"q": "refund", "cursor": "MTIz"},  # a cursor of another list: one id, no time
    ]
    for params in cases:
        assert_refused(await desk.client.get("/v1/search", params=params, headers=desk.a.headers))
    assert (await desk.ok("/v1/search", q="x" * 200))["items"] == []
    assert (await desk.client.get("/v1/search", params={"q": "refund"})).status_code == 401
