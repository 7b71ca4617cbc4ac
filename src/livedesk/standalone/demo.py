"""The demo account standalone mode and `livedesk dev` create on first start, through the
API's own code: a support team's inbox with a few days of history.

The account and its admin come from `create_account` (as `livedesk bootstrap` does); the rest
goes through the REST API (in-process, or the dev stack's api), so every write produces its
events like any other: four agents, the contacts of `demo_data`, and thirty conversations in
every status, each an exchange imported with its original times (so the list orders them as
they happened) and the replies and notes under the names of the agents who wrote them. The
history is fixed by a seed; only its times follow the clock. Known e-mails, and one password
the caller chooses for every agent (random unless told, see `main.demo_password`).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.accounts import create_account
from livedesk.api.models import Account
from livedesk.api.passwords import Passwords
from livedesk.standalone import demo_data
from livedesk.standalone.demo_data import AGENTS, CONTACTS, NOTES, NUDGES, TOPICS, Agent, Topic

ADMIN: Final = demo_data.ADMIN
AGENT: Final = demo_data.ALICE
LOGINS: Final = AGENTS

SEED: Final = 1042
# By recency, newest first: o open, p pending, r resolved. Recent conversations are mostly
# still open, older ones mostly resolved, as in a queue that is being worked.
STATUSES: Final = "oooopoooprooprpoorrprrrprrrrrr"
UNASSIGNED: Final = frozenset({0, 1, 3, 6})  # ranks of open conversations nobody took yet
# The assignees of the others, in turn.
ASSIGNEES: Final = ("alice", "bob", "carmen", "alice", "ada", "bob")
STATUS_NAMES: Final = {"o": "open", "p": "pending", "r": "resolved"}


@dataclass(frozen=True)
class Line:
    """One message of a planned conversation: who wrote it, how, and when."""

    kind: str  # incoming, outgoing or note
    author: str | None  # an agent's key; None: the contact
    content: str
    at: datetime


@dataclass(frozen=True)
class Planned:
    contact: int  # index in CONTACTS
    status: str
    assignee: str | None
    lines: tuple[Line, ...]


def plan(now: datetime) -> list[Planned]:
    """The demo's conversations, oldest first, with times before `now`."""
    rng = random.Random(SEED)
    planned = []
    for rank, code in enumerate(STATUSES):
        status = STATUS_NAMES[code]
        assignee = None
        if rank not in UNASSIGNED:
            assignee = ASSIGNEES[rank % len(ASSIGNEES)]
        # Denser near now, spread over about three and a half days.
        start = now - timedelta(minutes=20 + 6 * rank * rank + rng.randint(0, 30))
        topic = TOPICS[(rank * 5) % len(TOPICS)]
        script = _script(topic, status, assignee, rng)
        lines, at = [], start
        for kind, author, content in script:
            lines.append(Line(kind, author, content, at))
            at += timedelta(minutes=rng.randint(2, 25), seconds=rng.randint(0, 59))
        # A conversation that would run past now is moved back, whole.
        late = lines[-1].at - (now - timedelta(minutes=1))
        if late > timedelta(0):
            lines = [Line(n.kind, n.author, n.content, n.at - late) for n in lines]
        planned.append(Planned(rank % len(CONTACTS), status, assignee, tuple(lines)))
    return planned[::-1]


def _script(
    topic: Topic, status: str, assignee: str | None, rng: random.Random
) -> list[tuple[str, str | None, str]]:
    """The exchange so far, for a conversation in `status`: what is left is the next move
    (an open one waits for an agent, a pending one for the customer)."""
    customer: list[tuple[str, str | None, str]] = [("incoming", None, topic.opening)]
    if assignee is None:
        return customer + ([("incoming", None, rng.choice(NUDGES))] if rng.random() < 0.5 else [])
    colleague = rng.choice([agent.key for agent in AGENTS if agent.key != assignee])
    lines = [
        *customer,
        ("outgoing", assignee, topic.reply),
        ("incoming", None, topic.follow_up),
    ]
    if status == "open":
        return lines + ([("note", colleague, rng.choice(NOTES))] if rng.random() < 0.4 else [])
    lines += [("note", assignee, topic.note), ("outgoing", assignee, topic.next_step)]
    if status == "resolved":
        lines.append(("incoming", None, topic.thanks))
    return lines


async def ensure_demo(
    engine: AsyncEngine,
    passwords: Passwords,
    api: httpx.AsyncClient,
    password: str,
    now: datetime | None = None,
) -> bool:
    """Create the demo account, its logins with `password` and its history (times before
    `now`, default the clock's), unless the database has an account already; say if it did."""
    async with engine.connect() as connection:
        if (await connection.execute(select(func.count()).select_from(Account))).scalar_one():
            return False
    await create_account(
        engine,
        passwords,
        name=demo_data.ACCOUNT,
        email=ADMIN.email,
        password=password,
        admin_name=ADMIN.name,
    )
    token = (await _post(api, "/v1/auth/token", {"email": ADMIN.email, "password": password}))[
        "access_token"
    ]
    api.headers["authorization"] = f"Bearer {token}"
    try:
        await _write_history(api, password, now or datetime.now(UTC))
    finally:
        del api.headers["authorization"]
    return True


async def _write_history(api: httpx.AsyncClient, password: str, now: datetime) -> None:
    me = await _get(api, "/v1/agents")
    # At once: each hashes the password (argon2, in a thread), the slowest part of the demo.
    made = await asyncio.gather(
        *(_post(api, "/v1/agents", _agent_body(agent, password)) for agent in AGENTS[1:])
    )
    agent_ids = {ADMIN.key: me["items"][0]["id"]}
    agent_ids.update(
        (agent.key, answer["id"]) for agent, answer in zip(AGENTS[1:], made, strict=True)
    )
    inbox = (await _post(api, "/v1/inboxes", {"name": demo_data.INBOX}))["id"]
    contact_ids = [
        (
            await _post(
                api,
                "/v1/contacts",
                {
                    "name": person.name,
                    "email": person.email,
                    "phone": person.phone,
                    "custom_attributes": person.attributes,
                },
            )
        )["id"]
        for person in CONTACTS
    ]
    for conversation in plan(now):
        body: dict[str, Any] = {"inbox_id": inbox, "contact_id": contact_ids[conversation.contact]}
        if conversation.assignee is not None:
            body["assignee_id"] = agent_ids[conversation.assignee]
        opened = await _post(api, "/v1/conversations", body)
        last_id = 0
        for line in conversation.lines:
            message: dict[str, Any] = {
                "content": line.content,
                "kind": line.kind,
                "created_at": line.at.isoformat(),
            }
            if line.author is not None:
                message["sender_id"] = agent_ids[line.author]
            path = f"/v1/conversations/{opened['id']}/messages:import"
            last_id = (await _post(api, path, message))["id"]
        if conversation.status != "open":
            change = {"status": conversation.status, "version": opened["version"]}
            await _send(api, "PATCH", f"/v1/conversations/{opened['id']}", change)
            # The admin has read what is no longer waiting for anyone.
            await _post(api, f"/v1/conversations/{opened['id']}/read", {"message_id": last_id})


def _agent_body(agent: Agent, password: str) -> dict[str, object]:
    return {"email": agent.email, "password": password, "name": agent.name, "role": agent.role}


async def _get(api: httpx.AsyncClient, path: str) -> dict[str, Any]:
    return await _send(api, "GET", path, None)


async def _post(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return await _send(api, "POST", path, body)


async def _send(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    response = await api.request(method, path, json=body)
    response.raise_for_status()
    payload: dict[str, Any] = response.json()
    return payload
