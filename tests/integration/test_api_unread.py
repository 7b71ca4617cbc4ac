"""Unread counts, checked against a count the test keeps itself, on PostgreSQL and SQLite,
with either route for message posts.

Hypothesis runs random sequences of writes (the contact's messages, agents' replies and
notes) and reads (an agent moves their read pointer to some message) over several agents
and several conversations of one inbox. After every step each agent's conversation list
must carry, for every conversation, the unread count the test computes on its own:

    messages after the agent's read pointer (none: all) not written by that agent

(a colleague's note counts; the agent's own replies and notes never do). The read
endpoint, a single GET and a PATCH answer with the same count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.support.api import PASSWORD, bearer
from tests.support.backends import RunningApi

AGENTS = 3  # the admin and two agents
CONVERSATIONS = 3
CONTACT = -1  # "author" index of the contact: the admin posts an incoming message


@dataclass(frozen=True)
class Agent:
    id: int
    headers: dict[str, str]


@dataclass
class Desk:
    client: httpx.Client
    agents: list[Agent]


@dataclass(frozen=True)
class Written:
    id: int
    author: int | None  # the agent's user id; None for the contact


@dataclass
class Model:
    """What the test knows: each conversation's messages and each agent's read pointer."""

    messages: dict[int, list[Written]] = field(default_factory=dict)
    pointers: dict[tuple[int, int], int] = field(default_factory=dict)

    def unread(self, user_id: int, conversation_id: int) -> int:
        pointer = self.pointers.get((user_id, conversation_id), 0)
        return sum(
            1
            for message in self.messages[conversation_id]
            if message.id > pointer and message.author != user_id
        )


@pytest.fixture(scope="module")
def desk(running_api_process: RunningApi) -> Iterator[Desk]:
    api = running_api_process
    with httpx.Client(base_url=api.url, timeout=10) as client:
        agents = [Agent(api.admin_id, api.admin)]
        for n in range(1, AGENTS):
            email = f"agent{n}@acme.example.org"
            body = {"email": email, "password": PASSWORD, "name": f"Agent {n}"}
            made = client.post("/v1/agents", json=body, headers=api.admin)
            assert made.status_code == 201, made.text
            token = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
            agents.append(Agent(made.json()["id"], bearer(token.json()["access_token"])))
        yield Desk(client, agents)


class UnreadCounts(RuleBasedStateMachine):
    """One example: a fresh inbox with its own conversations, then random steps."""

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.client, self.agents = desk.client, desk.agents
        admin = self.agents[0].headers
        inbox = self._ok(self.client.post("/v1/inboxes", json={"name": "web"}, headers=admin))
        contact = self._ok(self.client.post("/v1/contacts", json={"name": "C"}, headers=admin))
        self.inbox_id = inbox["id"]
        self.conversations = [
            self._ok(
                self.client.post(
                    "/v1/conversations",
                    json={"inbox_id": inbox["id"], "contact_id": contact["id"]},
                    headers=admin,
                )
            )["id"]
            for _ in range(CONVERSATIONS)
        ]
        self.model = Model(messages={c: [] for c in self.conversations})

    @staticmethod
    def _ok(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    @rule(
        author=st.integers(CONTACT, AGENTS - 1),
        which=st.integers(0, CONVERSATIONS - 1),
        kind=st.sampled_from(["outgoing", "note"]),
    )
    def write(self, author: int, which: int, kind: str) -> None:
        conversation = self.conversations[which]
        path = f"/v1/conversations/{conversation}/messages"
        if author == CONTACT:  # the admin imports what the contact wrote
            body, poster, user = {"content": "help", "kind": "incoming"}, self.agents[0], None
            path += ":import"
        else:
            body, poster = {"content": "x", "kind": kind}, self.agents[author]
            user = poster.id
        made = self._ok(self.client.post(path, json=body, headers=poster.headers))
        assert isinstance(made["id"], int)
        self.model.messages[conversation].append(Written(made["id"], user))

    @rule(
        reader=st.integers(0, AGENTS - 1), which=st.integers(0, CONVERSATIONS - 1), pick=st.data()
    )
    def read(self, reader: int, which: int, pick: st.DataObject) -> None:
        conversation = self.conversations[which]
        messages = self.model.messages[conversation]
        if not messages:
            return
        message = pick.draw(st.sampled_from(messages))
        agent = self.agents[reader]
        answer = self._ok(
            self.client.post(
                f"/v1/conversations/{conversation}/read",
                json={"message_id": message.id},
                headers=agent.headers,
            )
        )
        key = (agent.id, conversation)
        self.model.pointers[key] = max(self.model.pointers.get(key, 0), message.id)
        assert answer["message_id"] == self.model.pointers[key]  # only forward
        assert answer["unread_count"] == self.model.unread(agent.id, conversation)

    @rule(reader=st.integers(0, AGENTS - 1), which=st.integers(0, CONVERSATIONS - 1))
    def open_one(self, reader: int, which: int) -> None:
        conversation, agent = self.conversations[which], self.agents[reader]
        got = self._ok(self.client.get(f"/v1/conversations/{conversation}", headers=agent.headers))
        assert got["unread_count"] == self.model.unread(agent.id, conversation)
        status = "pending" if got["status"] == "open" else "open"
        patched = self._ok(
            self.client.patch(
                f"/v1/conversations/{conversation}", json={"status": status}, headers=agent.headers
            )
        )
        assert patched["unread_count"] == self.model.unread(agent.id, conversation)

    @invariant()
    def every_list_matches(self) -> None:
        for agent in self.agents:
            page = self._ok(
                self.client.get(
                    "/v1/conversations", params={"inbox": self.inbox_id}, headers=agent.headers
                )
            )
            items = page["items"]
            assert isinstance(items, list)
            got = {item["id"]: item["unread_count"] for item in items}
            expected = {c: self.model.unread(agent.id, c) for c in self.conversations}
            assert got == expected, f"agent {agent.id}"


def test_unread_counts_match_an_independent_count(desk: Desk) -> None:
    class OnThisDesk(UnreadCounts):
        def __init__(self) -> None:
            super().__init__(desk)

    run_state_machine_as_test(
        OnThisDesk,
        settings=settings(
            max_examples=12,
            stateful_step_count=15,
            derandomize=True,  # the same sequences every run: green or red, never flaky
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
