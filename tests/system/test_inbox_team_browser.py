"""A team of agents in Chromium on the distributed topology: `livedesk dev` (api, presence and
two gateways as processes behind its proxy) on the run's RabbitMQ vhost and a PostgreSQL
database of its own.

Each test has an account of its own on the one stack, and checks the page against what the
database holds (over REST), never against the page's own idea of it:
- a gateway the pages use is SIGKILLed, then both are, while the contact writes over REST
  and the agents through the composer: each page ends with exactly the database's messages,
  and the reply typed while no gateway answered is written once;
- two agents resolve at once with the same version: one wins, the other page says who;
- a hidden tab with notifications granted gets one per message meant for its agent;
- unread badges after a seeded random run of writes and reads equal the test's own count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Response, Route, WebSocket, expect

from livedesk.api.accounts import create_account
from livedesk.api.db import make_engine
from livedesk.api.passwords import Passwords
from tests.support.api import bearer, spread_account_ids
from tests.support.browser import chromium
from tests.support.devstack import DevStack, dev_stack
from tests.support.inbox_page import (
    HIDDEN_TAB,
    RECORD_NOTIFICATIONS,
    message_ids,
    notified,
    open_conversation,
    send_reply,
    sign_in,
    thread,
    unread_badges,
    until_usable,
)
from tests.support.inbox_ui import Tab, open_tab, screenshot

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres, pytest.mark.timeout(90)]

PASSWORD = "correct horse battery"
RESTARTED = re.compile(r"gateway-\d exited with -9: restarting it")
NODES = ("dev-1", "dev-2")  # `livedesk dev`'s gateways
# The connection banner while the page has no socket.
DISCONNECTED = re.compile("reconnect|offline|connecting", re.IGNORECASE)


@pytest.fixture(scope="module")
def stack(
    amqp_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevStack]:
    with dev_stack(amqp_url, postgres_url, tmp_path_factory.mktemp("dev")) as running:
        asyncio.run(spread_account_ids(running.database_url))
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    email: str
    token: str


class Team:
    """An account of its own on the stack, written to over REST as its people would."""

    def __init__(self, http: httpx.AsyncClient, admin: Agent, inbox_id: int) -> None:
        self.http, self.admin, self.inbox_id = http, admin, inbox_id

    @classmethod
    async def make(cls, stack: DevStack, http: httpx.AsyncClient) -> Team:
        tag = secrets.token_hex(4)
        email = f"admin-{tag}@team.example"
        engine = make_engine(stack.database_url)
        try:
            created = await create_account(
                engine, Passwords(time_cost=1, memory_kib=8), name=f"Team {tag}",
                email=email, password=PASSWORD, admin_name="Ada Admin",
            )  # fmt: skip
        finally:
            await engine.dispose()
        token = await _token(http, email)
        admin = Agent(created.user_id, "Ada Admin", email, token)
        inbox = await _call(http, "POST", "/v1/inboxes", token, {"name": "Website chat"})
        return cls(http, admin, inbox["id"])

    async def agent(self, name: str) -> Agent:
        email = f"{name.split()[0].lower()}-{secrets.token_hex(4)}@team.example"
        body = {"email": email, "password": PASSWORD, "name": name, "role": "agent"}
        made = await _call(self.http, "POST", "/v1/agents", self.admin.token, body)
        return Agent(made["id"], name, email, await _token(self.http, email))

    async def contact(self, name: str) -> int:
        made = await _call(self.http, "POST", "/v1/contacts", self.admin.token, {"name": name})
        contact_id: int = made["id"]
        return contact_id

    async def conversation(self, contact_id: int, assignee: Agent | None = None) -> int:
        body: dict[str, Any] = {"inbox_id": self.inbox_id, "contact_id": contact_id}
        if assignee is not None:
            body["assignee_id"] = assignee.id
        made = await _call(self.http, "POST", "/v1/conversations", self.admin.token, body)
        conversation_id: int = made["id"]
        return conversation_id

    async def customer_writes(self, conversation_id: int, text: str) -> dict[str, Any]:
        """The contact's message, imported by the admin (as a mail or chat bridge would)."""
        path = f"/v1/conversations/{conversation_id}/messages:import"
        body = {"content": text, "kind": "incoming", "client_id": secrets.token_hex(8)}
        return await _call(self.http, "POST", path, self.admin.token, body)

    async def writes(
        self, agent: Agent, conversation_id: int, text: str, kind: str = "outgoing"
    ) -> dict[str, Any]:
        path = f"/v1/conversations/{conversation_id}/messages"
        body = {"content": text, "kind": kind, "client_id": secrets.token_hex(8)}
        return await _call(self.http, "POST", path, agent.token, body)

    async def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        """Every message of the conversation, oldest first, as the database holds them."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            answer = await self.http.get(
                f"/v1/conversations/{conversation_id}/messages",
                params=params,
                headers=bearer(self.admin.token),
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            found += page["items"]
            if not (cursor := page["next_cursor"]):
                return found

    async def get(self, conversation_id: int) -> dict[str, Any]:
        path = f"/v1/conversations/{conversation_id}"
        return await _call(self.http, "GET", path, self.admin.token, None)


async def _token(http: httpx.AsyncClient, email: str) -> str:
    answer = await http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def _call(
    http: httpx.AsyncClient, method: str, path: str, token: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    answer = await http.request(method, path, json=body, headers=bearer(token))
    assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
    result: dict[str, Any] = answer.json()
    return result


@contextlib.asynccontextmanager
async def team_on(stack: DevStack) -> AsyncIterator[Team]:
    async with httpx.AsyncClient(base_url=stack.base, timeout=30) as http:
        yield await Team.make(stack, http)


async def signed_in(browser: Browser, stack: DevStack, agent: Agent) -> Tab:
    tab = await open_tab(browser, stack.base)
    await sign_in(tab.page, agent.email, PASSWORD)
    return tab


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20) -> None:
    """Until `check()` is true; a TimeoutError past `timeout_s` (callers say what failed)."""
    async with asyncio.timeout(timeout_s):
        # Polling: the state is in pages and the database, nothing to wait on.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


# -- two agents resolve at once -------------------------------------------------------------


async def test_two_agents_resolve_at_once_one_wins_and_the_other_is_told(
    stack: DevStack, browser: Browser
) -> None:
    async with team_on(stack) as team:
        alice, bob = await team.agent("Alice Agent"), await team.agent("Bob Builder")
        chat = await team.conversation(await team.contact("Jane Customer"))
        await team.customer_writes(chat, "Thanks, that fixed it!")
        version = (await team.get(chat))["version"]
        people = {alice.id: alice, bob.id: bob}
        tabs = {agent.id: await signed_in(browser, stack, agent) for agent in (alice, bob)}
        pages = {agent_id: tab.page for agent_id, tab in tabs.items()}
        for page in pages.values():
            await open_conversation(page, chat)
            await expect(page.get_by_role("button", name="Resolve")).to_be_enabled()

        # Both requests are held until both are sent, so that both carry the version the
        # pages showed, whichever click lands first.
        held: list[Route] = []
        both_sent = asyncio.Event()
        answers: dict[int, list[int]] = {agent_id: [] for agent_id in pages}

        async def hold(route: Route, request: Request) -> None:
            if request.method != "PATCH":
                await route.continue_()
                return
            held.append(route)
            if len(held) == 2:
                both_sent.set()
            await both_sent.wait()
            await route.continue_()

        for agent_id, page in pages.items():
            await page.route(f"**/v1/conversations/{chat}", hold)
            page.on("response", _patch_statuses(answers[agent_id]))
        await asyncio.gather(
            *(page.get_by_role("button", name="Resolve").click() for page in pages.values())
        )
        try:
            await until(lambda: _answered(answers), timeout_s=10)
        except TimeoutError:
            raise AssertionError(f"held {len(held)} PATCH, answers {answers}") from None

        assert sorted(statuses[0] for statuses in answers.values()) == [200, 409], answers
        winner = people[next(agent for agent, statuses in answers.items() if statuses[0] == 200)]
        loser_page = next(page for agent, page in pages.items() if agent != winner.id)
        state = await team.get(chat)
        assert (state["status"], state["version"]) == ("resolved", version + 1)
        assert state["updated_by_id"] == winner.id
        first_name = winner.name.split()[0]
        told = re.compile(rf"{first_name}[^.]*resolved|resolved[^.]*{first_name}", re.IGNORECASE)
        await expect(loser_page.locator("body")).to_contain_text(told)
        await screenshot(loser_page, "team-resolved-first-by-another")
        for page in pages.values():
            await expect(page.get_by_role("button", name="Reopen")).to_be_visible()
            await expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
        # The one who lost sent nothing more: one change, by the winner.
        assert all(len(statuses) == 1 for statuses in answers.values()), answers
        assert [tab.errors for tab in tabs.values()] == [[], []]


def _patch_statuses(into: list[int]) -> Callable[[Response], None]:
    def note(response: Response) -> None:
        if response.request.method == "PATCH":
            into.append(response.status)

    return note


async def _answered(answers: dict[int, list[int]]) -> bool:
    return all(answers.values())


# -- notifications in a hidden tab ----------------------------------------------------------


async def test_a_hidden_tab_is_notified_of_what_is_meant_for_its_agent(
    stack: DevStack, browser: Browser
) -> None:
    async with team_on(stack) as team:
        alice, bob = await team.agent("Alice Agent"), await team.agent("Bob Builder")
        mine = await team.conversation(await team.contact("Mina Mine"), assignee=alice)
        unassigned = await team.conversation(await team.contact("Uma Unassigned"))
        bobs = await team.conversation(await team.contact("Otto Others"), assignee=bob)
        tab = await open_tab(browser, stack.base)
        page = tab.page
        await page.context.grant_permissions(["notifications"], origin=stack.base)
        await page.context.add_init_script(HIDDEN_TAB)
        await page.context.add_init_script(RECORD_NOTIFICATIONS)
        await page.reload()  # with the scripts, from the first line of the page on
        await sign_in(page, alice.email, PASSWORD)
        assert await page.evaluate("document.hidden && Notification.permission") == "granted"
        notifications = page.get_by_role("button", name="Notifications")
        await notifications.click()  # they are off until the agent turns them on
        await expect(notifications).to_have_attribute("aria-pressed", "true")

        await team.customer_writes(mine, "mine: where is my parcel?")
        await team.customer_writes(unassigned, "unassigned: can someone help?")
        await team.customer_writes(bobs, "others: Bob said he would call")
        await team.writes(alice, mine, "own: I am on it")  # her own, from another device
        await team.writes(bob, bobs, "others: calling them now", kind="note")
        # A new conversation whose first message follows at once is one notification, and
        # one that stays silent is one too (the conversation's own).
        talker = await team.conversation(await team.contact("Nora Newcomer"))
        await team.customer_writes(talker, "first words from a newcomer")
        await team.conversation(await team.contact("Sid Silent"))
        await team.customer_writes(unassigned, "unassigned: last one, thanks")  # in order: last
        meant = ["where is my parcel", "can someone help", "Nora", "Sid Silent", "last one"]

        async def all_came() -> bool:
            made = [_text(one) for one in await notified(page)]
            return len(made) >= len(meant) and any("last one" in one for one in made)

        await until(all_came, timeout_s=20)
        await asyncio.sleep(0.5)  # one more, meant for no one, would have come before the last
        made = [_text(one) for one in await notified(page)]
        for text in meant:
            assert sum(text in one for one in made) == 1, (text, made)
        assert len(made) == len(meant), made
        assert not [one for one in made if "others:" in one or "own:" in one], made
        assert tab.errors == []


def _text(made: Any) -> str:
    return f"{made['title']} {made['body']}"


# -- unread badges against the test's own count ----------------------------------------------


@dataclass
class UnreadModel:
    """What Alice has not read, counted from what the test did: every message after her last
    read of a conversation that she did not write herself (a colleague's note counts)."""

    unread: dict[int, int]

    def written(self, conversation_id: int, by_alice: bool) -> None:
        if not by_alice:
            self.unread[conversation_id] += 1

    def read(self, conversation_id: int) -> None:
        self.unread[conversation_id] = 0


async def test_unread_badges_equal_an_independent_count_after_random_writes_and_reads(
    stack: DevStack, browser: Browser
) -> None:
    seed = int(os.environ.get("LIVEDESK_TEST_SEED", secrets.randbelow(1_000_000)))
    print(f"unread badges: seed {seed} (LIVEDESK_TEST_SEED={seed} replays it)")  # noqa: T201
    chooser = random.Random(seed)
    async with team_on(stack) as team:
        alice, bob = await team.agent("Alice Agent"), await team.agent("Bob Builder")
        chats = [await team.conversation(await team.contact(f"Customer {n}")) for n in range(6)]
        # Where Alice parks: opening it reads nothing of the others, and nobody writes to it.
        parking = await team.conversation(await team.contact("Parking Lot"))
        model = UnreadModel(dict.fromkeys(chats, 0))
        for chat in chats:  # each has a message to read from the start
            await team.customer_writes(chat, "the first message")
            model.written(chat, by_alice=False)
        tab = await signed_in(browser, stack, alice)
        page = tab.page
        await open_conversation(page, parking)

        async def badges_match(chat_ids: list[int]) -> None:
            async def equal() -> bool:
                shown = await unread_badges(page)
                return all(shown.get(chat) == model.unread[chat] for chat in chat_ids)

            try:
                await until(equal, timeout_s=10)
            except TimeoutError:
                shown = await unread_badges(page)
                raise AssertionError(
                    f"seed {seed}: badges {shown}, counted {model.unread}"
                ) from None

        for step in range(28):
            chat = chooser.choice(chats)
            action = chooser.choices(
                ["customer", "colleague", "note", "own", "read"], weights=[5, 2, 1, 1, 3]
            )[0]
            if action == "customer":
                await team.customer_writes(chat, f"step {step}: a customer writes")
            elif action == "colleague":
                await team.writes(bob, chat, f"step {step}: Bob replies")
            elif action == "note":
                await team.writes(bob, chat, f"step {step}: Bob notes", kind="note")
            elif action == "own":
                await team.writes(alice, chat, f"step {step}: Alice, from her phone")
            if action == "read":
                # The page has everything written so far (the badge says so) before she reads.
                await badges_match([chat])
                read_path = f"/v1/conversations/{chat}/read"

                def is_read(response: Response, path: str = read_path) -> bool:
                    return response.url.endswith(path)

                async with page.expect_response(is_read):
                    await open_conversation(page, chat)
                model.read(chat)
                await badges_match([chat])
                await open_conversation(page, parking)
            else:
                model.written(chat, by_alice=action == "own")

        await badges_match(chats)
        await page.reload()
        await until_usable(page)
        await badges_match(chats)
        assert tab.errors == []


# -- a gateway killed under the pages ------------------------------------------------------
# Last in the module: the reaper (tests/conftest.py) kills, after each test, the processes
# that test started, and so the gateways `livedesk dev` restarted during this one.


class Sockets:
    """The gateway node each page's current socket is on, from the `ready` frames it gets."""

    def __init__(self) -> None:
        self.nodes: dict[Page, list[str]] = {}

    def watch(self, page: Page) -> None:
        self.nodes[page] = []

        def on_socket(socket: WebSocket) -> None:
            def on_frame(payload: str | bytes) -> None:
                with contextlib.suppress(ValueError):
                    frame = json.loads(payload)
                    if isinstance(frame, dict) and frame.get("type") == "ready":
                        self.nodes[page].append(frame["node"])

            socket.on("framereceived", on_frame)

        page.on("websocket", on_socket)

    async def node_of(self, page: Page) -> str:
        """The node of the page's socket (the socket opens once the list is usable)."""

        async def connected() -> bool:
            return bool(self.nodes[page])

        await until(connected, timeout_s=20)
        return self.nodes[page][-1]


async def test_a_gateway_killed_under_the_pages_loses_and_doubles_nothing(
    stack: DevStack, browser: Browser
) -> None:
    async with team_on(stack) as team:
        alice, bob = await team.agent("Alice Agent"), await team.agent("Bob Builder")
        chat = await team.conversation(await team.contact("Jane Customer"))
        await team.customer_writes(chat, "Hello, is anyone there?")
        sockets = Sockets()
        tabs = []
        for agent in (alice, bob):
            tab = await open_tab(browser, stack.base)
            sockets.watch(tab.page)  # the login form opens no socket: none is missed
            await sign_in(tab.page, agent.email, PASSWORD)
            tabs.append(tab)
        pages = [tab.page for tab in tabs]
        alice_page, bob_page = pages
        for page in pages:
            await open_conversation(page, chat)
            await expect(thread(page).get_by_text("Hello, is anyone there?")).to_be_visible()

        writing = True

        async def contact_keeps_writing() -> None:
            number = 0
            while writing:
                number += 1
                await team.customer_writes(chat, f"customer line {number}")
                await asyncio.sleep(0.15)

        writer = asyncio.create_task(contact_keeps_writing())
        try:
            await asyncio.sleep(1)
            # Alice's gateway dies: her page resumes on the other, while Bob replies.
            os.kill(stack.gateway_pid(await sockets.node_of(alice_page)), signal.SIGKILL)
            await send_reply(bob_page, "Bob replies while a gateway restarts")
            await asyncio.to_thread(stack.wait_for, RESTARTED, 20)
            await asyncio.to_thread(stack.wait_gateways_ready, 30)
            # Both die: no socket anywhere until `livedesk dev` restarts them. Alice types a
            # reply in the outage; it must reach the database once, and both pages once.
            for node in NODES:
                os.kill(stack.gateway_pid(node), signal.SIGKILL)
            await expect(alice_page.get_by_role("status")).to_have_text(DISCONNECTED)
            await screenshot(alice_page, "team-gateways-down")
            await send_reply(alice_page, "Alice typed this while the gateways were down")
            await asyncio.to_thread(stack.wait_gateways_ready, 30)
            await asyncio.sleep(1)
        finally:
            writing = False
            await writer

        async def pages_match_the_database() -> bool:
            written = [message["id"] for message in await team.messages(chat)]
            shown = [await message_ids(page) for page in pages]
            return all(ids == written for ids in shown)

        try:
            await until(pages_match_the_database, timeout_s=30)
        except TimeoutError:
            ids = [message["id"] for message in await team.messages(chat)]
            report = []
            for page, agent in zip(pages, (alice, bob), strict=True):
                shown = await message_ids(page)
                missing = sorted(set(ids) - set(shown))
                doubled = sorted(id_ for id_, n in Counter(shown).items() if n > 1)
                report.append(f"{agent.name}: missing {missing}, doubled {doubled}")
            raise AssertionError("pages differ from the database: " + "; ".join(report)) from None
        written = await team.messages(chat)
        contents = Counter(message["content"] for message in written)
        assert contents["Alice typed this while the gateways were down"] == 1
        assert contents["Bob replies while a gateway restarts"] == 1
        for page in pages:
            for text in ("Alice typed this while", "Bob replies while"):
                await expect(thread(page).get_by_text(re.compile(text))).to_have_count(1)
        # Every socket came back through a restarted or surviving gateway.
        assert all(len(nodes) >= 2 for nodes in sockets.nodes.values() if nodes)
        assert [tab.errors for tab in tabs] == [[], []]
