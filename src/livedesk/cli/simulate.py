"""`livedesk simulate`: bring a demo inbox to life against a running Livedesk.

Signs in as the demo's agents (`standalone.demo_data`, one password for all) and, at a
steady rate, plays what a support team's day looks like: customers write in (new
conversations, and messages in open ones, through the admin's import, as the contact),
agents take conversations, reply, leave notes, ask and wait (pending), and resolve. Every
action goes through the public REST API, so every open inbox sees it live; one line is
printed per action. Runs for `--duration` seconds, or until SIGINT or SIGTERM, and stops
between actions.

Not here: what the demo starts with (`standalone.demo`), and any check of what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx

from livedesk.standalone.demo_data import AGENTS, NOTES, NUDGES, TOPICS, Agent, Topic

EX_UNAVAILABLE: Final = 69  # the URL did not answer (as `livedesk.shared.lifecycle`)
EX_NOPERM: Final = 77  # the demo admin's login was refused
# Weights of the actions, in the order of `Simulation.actions`.
WEIGHTS: Final = (3, 3, 5, 2, 2, 2, 1)
GENERIC_REPLIES: Final = (
    "Thanks for your patience, I'm looking into it now.",
    "Could you send me a screenshot of what you see?",
    "I've passed this on to our engineers and will update you today.",
    "That should be fixed now. Could you try again?",
)


class Refused(Exception):
    """The server answered a login with 401: the password is not the demo's."""


@dataclass
class Agents:
    """Each demo agent's id and token, by key; those whose login worked."""

    client: httpx.AsyncClient
    password: str
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    async def login(self, agent: Agent) -> None:
        body = {"email": agent.email, "password": self.password}
        answer = await self.client.post("/v1/auth/token", json=body)
        if answer.status_code == 401:
            raise Refused(agent.email)
        answer.raise_for_status()
        self.tokens[agent.key] = answer.json()["access_token"]

    async def call(
        self, agent: Agent, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        """`method path` as `agent`, signing in again once when the token has expired."""
        for attempt in (1, 2):
            headers = {"authorization": f"Bearer {self.tokens[agent.key]}"}
            answer = await self.client.request(method, path, json=body, headers=headers)
            if answer.status_code == 401 and attempt == 1:
                await self.login(agent)
                continue
            answer.raise_for_status()
            return answer.json()
        raise AssertionError("unreachable: the second attempt returns or raises")


@dataclass
class Simulation:
    agents: Agents
    rng: random.Random
    say: Callable[[str], None]
    inbox_id: int = 0
    contacts: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[int, Topic] = field(default_factory=dict)  # conversations it opened

    @property
    def admin(self) -> Agent:
        return AGENTS[0]

    @property
    def present(self) -> list[Agent]:
        return [agent for agent in AGENTS if agent.key in self.agents.tokens]

    async def prepare(self) -> None:
        admin = self.admin
        await self.agents.login(admin)
        for agent in AGENTS[1:]:
            try:
                await self.agents.login(agent)
            except Refused:
                self.say(f"{agent.email} could not sign in; playing without them")
        listed = await self.agents.call(admin, "GET", "/v1/agents?limit=500")
        by_email = {item["email"]: item["id"] for item in listed["items"]}
        self.agents.ids = {a.key: by_email[a.email] for a in AGENTS if a.email in by_email}
        inboxes = (await self.agents.call(admin, "GET", "/v1/inboxes"))["items"]
        if not inboxes:
            inboxes = [await self.agents.call(admin, "POST", "/v1/inboxes", {"name": "Chat"})]
        self.inbox_id = inboxes[0]["id"]
        self.contacts = (await self.agents.call(admin, "GET", "/v1/contacts?limit=500"))["items"]
        if not self.contacts:
            body = {"name": "Sam Visitor", "email": "sam.visitor@example.org"}
            self.contacts = [await self.agents.call(admin, "POST", "/v1/contacts", body)]

    def actions(self) -> list[Callable[[], Awaitable[None]]]:
        return [
            self.customer_writes_in,
            self.customer_adds,
            self.agent_replies,
            self.colleague_notes,
            self.agent_takes,
            self.agent_resolves,
            self.agent_waits,
        ]

    async def step(self) -> None:
        action = self.rng.choices(self.actions(), weights=WEIGHTS)[0]
        try:
            await action()
        except httpx.HTTPStatusError as error:
            answer = error.response
            self.say(f"(skipped: {answer.request.method} {answer.request.url.path} answered "
                     f"{answer.status_code}, {answer.text[:120]})")  # fmt: skip

    async def customer_writes_in(self) -> None:
        contact = self.rng.choice(self.contacts)
        topic = self.rng.choice(TOPICS)
        body = {"inbox_id": self.inbox_id, "contact_id": contact["id"]}
        opened = await self.agents.call(self.admin, "POST", "/v1/conversations", body)
        self.topics[opened["id"]] = topic
        await self._as_contact(opened["id"], topic.opening)
        self.say(f"{contact['name']} writes in (#{opened['id']}): {_quote(topic.opening)}")

    async def customer_adds(self) -> None:
        conversation = await self._pick("open", "pending")
        if conversation is None:
            return await self.customer_writes_in()
        topic = self.topics.get(conversation["id"])
        text = topic.follow_up if topic else self.rng.choice(NUDGES)
        await self._as_contact(conversation["id"], text)
        name = self._contact_name(conversation)
        self.say(f"{name} adds to #{conversation['id']}: {_quote(text)}")
        if conversation["status"] == "pending":  # the answer it waited for: back in the queue
            change = {"status": "open", "version": conversation["version"]}
            path = f"/v1/conversations/{conversation['id']}"
            await self.agents.call(self.admin, "PATCH", path, change)
            self.say(f"#{conversation['id']} is open again")

    async def agent_replies(self) -> None:
        conversation = await self._pick("open")
        if conversation is None:
            return await self.customer_writes_in()
        agent = await self._owner(conversation)
        topic = self.topics.get(conversation["id"])
        text = topic.reply if topic else self.rng.choice(GENERIC_REPLIES)
        path = f"/v1/conversations/{conversation['id']}/messages"
        await self.agents.call(agent, "POST", path, {"content": text, "kind": "outgoing"})
        self.say(f"{agent.name} replies in #{conversation['id']}: {_quote(text)}")

    async def colleague_notes(self) -> None:
        conversation = await self._pick("open", "pending")
        if conversation is None:
            return
        agent = self.rng.choice(self.present)
        topic = self.topics.get(conversation["id"])
        text = topic.note if topic and self.rng.random() < 0.5 else self.rng.choice(NOTES)
        path = f"/v1/conversations/{conversation['id']}/messages"
        await self.agents.call(agent, "POST", path, {"content": text, "kind": "note"})
        self.say(f"{agent.name} notes in #{conversation['id']}: {_quote(text)}")

    async def agent_takes(self) -> None:
        conversation = await self._pick("open", unassigned=True)
        if conversation is None:
            return await self.customer_writes_in()
        await self._owner(conversation)

    async def agent_resolves(self) -> None:
        await self._set_status(("open", "pending"), "resolved", "resolves")

    async def agent_waits(self) -> None:
        await self._set_status(("open",), "pending", "asks and waits on")

    async def _set_status(self, among: tuple[str, ...], status: str, verb: str) -> None:
        conversation = await self._pick(*among)
        if conversation is None:
            return
        agent = await self._owner(conversation)
        current = await self.agents.call(agent, "GET", f"/v1/conversations/{conversation['id']}")
        change = {"status": status, "version": current["version"]}
        await self.agents.call(agent, "PATCH", f"/v1/conversations/{conversation['id']}", change)
        self.say(f"{agent.name} {verb} #{conversation['id']}")

    async def _owner(self, conversation: dict[str, Any]) -> Agent:
        """The conversation's assignee, or an agent who takes it now."""
        by_id = {self.agents.ids.get(agent.key): agent for agent in self.present}
        if (owner := by_id.get(conversation["assignee_id"])) is not None:
            return owner
        agent = self.rng.choice(self.present)
        change = {"assignee_id": self.agents.ids[agent.key], "version": conversation["version"]}
        path = f"/v1/conversations/{conversation['id']}"
        await self.agents.call(agent, "PATCH", path, change)
        conversation["version"] += 1
        self.say(f"{agent.name} takes #{conversation['id']}")
        return agent

    async def _pick(self, *statuses: str, unassigned: bool = False) -> dict[str, Any] | None:
        """A recent conversation in one of `statuses`, or None."""
        found: list[dict[str, Any]] = []
        for status in statuses:
            query = f"/v1/conversations?status={status}&limit=20"
            if unassigned:
                query += "&assignee=none"
            found += (await self.agents.call(self.admin, "GET", query))["items"]
        return self.rng.choice(found) if found else None

    async def _as_contact(self, conversation_id: int, text: str) -> None:
        path = f"/v1/conversations/{conversation_id}/messages:import"
        await self.agents.call(self.admin, "POST", path, {"content": text, "kind": "incoming"})

    def _contact_name(self, conversation: dict[str, Any]) -> str:
        for contact in self.contacts:
            if contact["id"] == conversation["contact_id"]:
                return str(contact["name"])
        return f"contact {conversation['contact_id']}"


def _quote(text: str) -> str:
    return f"“{text[:70]}{'…' if len(text) > 70 else ''}”"


def _say(line: str) -> None:
    sys.stdout.write(f"{datetime.now():%H:%M:%S} {line}\n")
    sys.stdout.flush()


async def simulate(
    url: str, password: str, rate_per_min: float, duration_s: float | None, seed: int | None
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        simulation = Simulation(Agents(client, password), random.Random(seed), _say)
        try:
            await simulation.prepare()
        except Refused as refused:
            return _fail(
                f"{url} refused the demo login {refused} (give the demo password with"
                " --password or LIVEDESK_DEMO_PASSWORD)",
                EX_NOPERM,
            )
        _say(f"playing the demo at {url}: {rate_per_min:g} actions a minute, Ctrl-C stops")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        actions = 0
        while not stop.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            await simulation.step()
            actions += 1
            pause = 60 / rate_per_min * simulation.rng.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):  # a signal ends the pause at once
                await asyncio.wait_for(stop.wait(), pause if left is None else min(pause, left))
    _say(f"stopped after {actions} actions")
    return 0


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"livedesk simulate: {message}\n")
    return status


def run(
    url: str, password: str | None, rate_per_min: float, duration_s: float | None, seed: int | None
) -> int:
    """`livedesk simulate`; the exit status: 0 stopped, 2 bad arguments, 69 the URL did
    not answer, 77 the demo login was refused, 130 interrupted before it began."""
    if not password:
        return _fail("give the demo password with --password or LIVEDESK_DEMO_PASSWORD", 2)
    if rate_per_min <= 0 or (duration_s is not None and duration_s <= 0):
        return _fail("--rate and --duration must be positive", 2)
    try:
        return asyncio.run(simulate(url.rstrip("/"), password, rate_per_min, duration_s, seed))
    except KeyboardInterrupt:  # before its handler was in place: nothing was under way
        return 128 + signal.SIGINT
    except httpx.TransportError as error:
        return _fail(f"cannot reach {url}: {error or type(error).__name__}", EX_UNAVAILABLE)
    except httpx.HTTPStatusError as error:
        answer = error.response
        return _fail(
            f"{url} answered {answer.status_code} to {answer.request.url.path}: "
            f"{answer.text[:200]}",
            EX_UNAVAILABLE,
        )
