"""Snooze, explicit target states and version conflicts, end to end against a real
`livedesk api` process on PostgreSQL (with the shared RabbitMQ) and on SQLite.

A snoozed conversation reopens by itself at its time, with a `conversation_updated` by the
system at the account's next offset; two agents changing one conversation at once get one
200 and one 409 that names the winner and what they changed; snoozes that make no sense and
another account's conversation are refused with the usual 422 and 404.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import PASSWORD, bearer, livedesk
from tests.support.backends import DATABASES, Database, RunningApi, running_api

# How late a wake-up may be: the promise is about a second; the rest is a loaded machine.
WAKE_SLACK_S = 2.0


@pytest.fixture(scope="module", params=DATABASES)
def api(
    request: pytest.FixtureRequest, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    database: Database = request.param
    postgres_url = request.getfixturevalue("postgres_url") if database == "postgres" else ""
    with running_api(database, postgres_url, amqp_url, tmp_path_factory.mktemp("api")) as api:
        yield api


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


class Desk:
    """An account's admin and one more agent on the running API, with a conversation maker."""

    def __init__(self, api: RunningApi, http: httpx.AsyncClient) -> None:
        self.api, self.http = api, http
        self.admin = api.admin
        self.inbox_id = self.contact_id = 0
        self.bob_id, self.bob = 0, dict[str, str]()

    async def prepare(self) -> Desk:
        inbox = await self.http.post("/v1/inboxes", json={"name": "Web"}, headers=self.admin)
        contact = await self.http.post("/v1/contacts", json={"name": "Jo"}, headers=self.admin)
        self.inbox_id, self.contact_id = inbox.json()["id"], contact.json()["id"]
        email = f"bob-{uuid.uuid4().hex[:8]}@acme.test"
        body = {"email": email, "password": PASSWORD, "name": "Bob", "role": "agent"}
        made = await self.http.post("/v1/agents", json=body, headers=self.admin)
        assert made.status_code == 201, made.text
        self.bob_id = made.json()["id"]
        token = await self.http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        self.bob = bearer(token.json()["access_token"])
        return self

    async def conversation(self) -> dict[str, Any]:
        body = {"inbox_id": self.inbox_id, "contact_id": self.contact_id}
        made = await self.http.post("/v1/conversations", json=body, headers=self.admin)
        assert made.status_code == 201, made.text
        conversation: dict[str, Any] = made.json()
        return conversation

    async def patch(
        self, conversation_id: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.patch(
            f"/v1/conversations/{conversation_id}", json=body, headers=headers or self.admin
        )

    async def get(self, conversation_id: int) -> dict[str, Any]:
        got = await self.http.get(f"/v1/conversations/{conversation_id}", headers=self.admin)
        assert got.status_code == 200, got.text
        conversation: dict[str, Any] = got.json()
        return conversation

    async def events_after(self, offset: int) -> list[dict[str, Any]]:
        page = await self.http.get(f"/v1/events?after={offset}", headers=self.admin)
        assert page.status_code == 200, page.text
        events: list[dict[str, Any]] = page.json()["events"]
        return events

    async def offset(self) -> int:
        listed = await self.http.get("/v1/conversations?limit=1", headers=self.admin)
        offset: int = listed.json()["offset"]
        return offset


@pytest.fixture
async def desk(api: RunningApi) -> Any:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        yield await Desk(api, http).prepare()


def assert_invalid(response: httpx.Response, mentions: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_request"
    assert mentions in body["message"]


async def test_a_snoozed_conversation_reopens_at_its_time_with_the_next_offset(
    desk: Desk,
) -> None:
    conversation = await desk.conversation()
    before = await desk.offset()
    until = soon(1.5)
    snoozed = await desk.patch(
        conversation["id"], {"status": "snoozed", "snoozed_until": iso(until), "version": 1}
    )
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["status"] == "snoozed"
    assert datetime.fromisoformat(snoozed.json()["snoozed_until"]) == until
    assert snoozed.json()["version"] == 2
    assert snoozed.json()["updated_by_id"] == desk.api.admin_id
    listed = await desk.http.get("/v1/conversations?status=snoozed", headers=desk.admin)
    assert conversation["id"] in [c["id"] for c in listed.json()["items"]]

    deadline = time.monotonic() + 1.5 + WAKE_SLACK_S + 3
    while (now := await desk.get(conversation["id"]))["status"] == "snoozed":
        assert time.monotonic() < deadline, "the conversation did not wake up"
        await asyncio.sleep(0.05)
    assert now["status"] == "open"
    assert now["snoozed_until"] is None
    assert now["version"] == 3
    assert now["updated_by_id"] is None

    snooze_event, wake_event = await desk.events_after(before)
    assert snooze_event["offset"] == before + 1
    assert snooze_event["data"]["changed"] == ["status", "snoozed_until"]
    assert snooze_event["data"]["by"] == desk.api.admin_id
    assert snooze_event["data"]["conversation"]["snoozed_until"] is not None
    assert wake_event["offset"] == before + 2  # the next offset: nothing skipped
    assert wake_event["type"] == "conversation_updated"
    assert wake_event["data"]["by"] is None
    assert wake_event["data"]["changed"] == ["status", "snoozed_until"]
    woken = wake_event["data"]["conversation"]
    assert (woken["status"], woken["snoozed_until"], woken["version"]) == ("open", None, 3)
    assert woken["updated_by_id"] is None
    # Woken at its time: not before, and within the promised second or so.
    late_s = (datetime.fromisoformat(wake_event["ts"]) - until).total_seconds()
    assert 0 <= late_s < WAKE_SLACK_S, late_s


async def test_snoozes_change_clear_and_repeat_as_target_states(desk: Desk) -> None:
    conversation_id = (await desk.conversation())["id"]
    before = await desk.offset()
    first, later = soon(3600), soon(7200)
    snooze = {"status": "snoozed", "snoozed_until": iso(first)}
    assert (await desk.patch(conversation_id, {**snooze, "version": 1})).json()["version"] == 2
    # The same target again changes nothing: no version, no event.
    same = await desk.patch(conversation_id, {**snooze, "version": 2})
    assert (same.status_code, same.json()["version"]) == (200, 2)
    moved = await desk.patch(conversation_id, {**snooze, "snoozed_until": iso(later)}, desk.bob)
    assert datetime.fromisoformat(moved.json()["snoozed_until"]) == later
    assert (moved.json()["version"], moved.json()["updated_by_id"]) == (3, desk.bob_id)
    # Another field leaves the snooze as it is.
    taken = await desk.patch(conversation_id, {"assignee_id": desk.bob_id}, desk.bob)
    assert taken.json()["status"] == "snoozed"
    assert taken.json()["snoozed_until"] == moved.json()["snoozed_until"]
    # Any other status clears it.
    pending = await desk.patch(conversation_id, {"status": "pending", "version": 4})
    assert pending.status_code == 200, pending.text
    assert (pending.json()["status"], pending.json()["snoozed_until"]) == ("pending", None)
    again = await desk.patch(conversation_id, {"status": "pending", "version": 5})
    assert (again.status_code, again.json()["version"]) == (200, 5)

    events = await desk.events_after(before)
    assert [(e["data"]["changed"], e["data"]["by"]) for e in events] == [
        (["status", "snoozed_until"], desk.api.admin_id),
        (["snoozed_until"], desk.bob_id),
        (["assignee_id"], desk.bob_id),
        (["status", "snoozed_until"], desk.api.admin_id),
    ]


async def test_two_agents_changing_one_version_get_one_200_and_one_409_naming_the_winner(
    desk: Desk,
) -> None:
    who = {desk.api.admin_id: desk.admin, desk.bob_id: desk.bob}
    admin = await desk.http.get(f"/v1/agents/{desk.api.admin_id}", headers=desk.admin)
    names = {desk.api.admin_id: admin.json()["name"], desk.bob_id: "Bob"}
    for _ in range(5):
        conversation_id = (await desk.conversation())["id"]
        # Both press Resolve on version 1 at once: an explicit target, never a toggle.
        answers = await asyncio.gather(
            *(desk.patch(conversation_id, {"status": "resolved", "version": 1}, h)
              for h in who.values())
        )  # fmt: skip
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        won = next(a for a in answers if a.status_code == 200).json()
        lost = next(a for a in answers if a.status_code == 409)
        winner = won["updated_by_id"]
        assert winner in who
        body = lost.json()
        assert set(body) == {"code", "message", "conversation", "changed_by", "changed"}
        assert body["code"] == "version_conflict"
        assert body["changed_by"] == {"id": winner, "name": names[winner]}
        assert body["changed"] == ["status"]
        assert (body["conversation"]["status"], body["conversation"]["version"]) == ("resolved", 2)
        assert body["conversation"]["updated_by_id"] == winner
        assert lost.headers["ETag"] == '"2"'
        assert "changed status last" in body["message"]
        # The loser's conversation is the winner's, as the loser sees it.
        assert {k: v for k, v in body["conversation"].items() if k != "unread_count"} == {
            k: v for k, v in won.items() if k != "unread_count"
        }


async def test_a_conflict_after_a_wake_up_names_the_system(desk: Desk) -> None:
    conversation_id = (await desk.conversation())["id"]
    until = soon(1.0)
    await desk.patch(conversation_id, {"status": "snoozed", "snoozed_until": iso(until)})
    deadline = time.monotonic() + 1.0 + WAKE_SLACK_S + 3
    while (await desk.get(conversation_id))["status"] != "open":
        assert time.monotonic() < deadline, "the conversation did not wake up"
        await asyncio.sleep(0.05)
    stale = await desk.patch(conversation_id, {"status": "resolved", "version": 2}, desk.bob)
    assert stale.status_code == 409, stale.text
    body = stale.json()
    assert body["changed_by"] is None
    assert body["changed"] == ["status", "snoozed_until"]
    assert body["conversation"]["status"] == "open"
    assert "the system changed status and snoozed_until last" in body["message"]


async def test_snoozes_that_make_no_sense_are_refused_and_change_nothing(desk: Desk) -> None:
    conversation_id = (await desk.conversation())["id"]
    before = await desk.offset()
    future, past = iso(soon(600)), iso(soon(-60))
    refused: list[tuple[dict[str, Any], str]] = [
        ({"status": "snoozed"}, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": None}, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": past}, "in the future"),
        ({"status": "open", "snoozed_until": future}, "only with status snoozed"),
        ({"snoozed_until": future}, "only with status snoozed"),
        ({"snoozed_until": None}, "only with status snoozed"),
        ({"status": "resolved", "snoozed_until": None}, "only with status snoozed, not resolved"),
        ({"assignee_id": desk.bob_id, "snoozed_until": future}, "only with status snoozed"),
        ({"status": "snoozed", "snoozed_until": "tomorrow"}, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": "2099-01-01T09:00:00"}, "UTC offset"),
        ({"status": "snoozed", "snoozed_until": 4102444800}, "snoozed_until"),
    ]
    for body, mentions in refused:
        assert_invalid(await desk.patch(conversation_id, {**body, "version": 1}), mentions)
    # Refused before the version is compared: a stale version gets the same 422.
    assert_invalid(
        await desk.patch(
            conversation_id, {"status": "snoozed", "snoozed_until": past, "version": 9}
        ),
        "in the future",
    )
    never_changed = await desk.patch(conversation_id, {"status": "resolved", "version": 2})
    assert never_changed.status_code == 409, never_changed.text
    assert (never_changed.json()["changed_by"], never_changed.json()["changed"]) == (None, [])
    assert "unchanged since it was opened" in never_changed.json()["message"]
    unchanged = await desk.get(conversation_id)
    assert (unchanged["status"], unchanged["version"], unchanged["snoozed_until"]) == (
        "open", 1, None,
    )  # fmt: skip
    assert await desk.events_after(before) == []


async def test_another_accounts_conversation_is_not_found(desk: Desk) -> None:
    api = desk.api
    email = f"admin-{uuid.uuid4().hex[:8]}@globex.test"
    made = livedesk(
        "bootstrap", "--account", "Globex", "--email", email, "--password", PASSWORD, env=api.env
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["account_id"] != api.account_id
    token = await desk.http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    stranger = bearer(token.json()["access_token"])
    conversation_id = (await desk.conversation())["id"]
    body = {"status": "snoozed", "snoozed_until": iso(soon(600)), "version": 1}
    for answer in (
        await desk.patch(conversation_id, body, stranger),
        await desk.patch(conversation_id, {"status": "resolved"}, stranger),
        await desk.http.get(f"/v1/conversations/{conversation_id}", headers=stranger),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "not_found"
    assert (await desk.get(conversation_id))["version"] == 1
