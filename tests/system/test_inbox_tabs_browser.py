"""Two tabs of one login in one browser hold one socket, and hand it over when the leader closes.

Headless Chromium (tests/support/browser.py) opens the inbox twice in one browser context, as
one agent with two tabs would. Chromium's own Web Locks elect the leader and its
BroadcastChannel carries the events. Each tab also runs a recorder: a second
`@livedesk/client` in the page, of the same login, that notes every persistent offset it is
given, so that the test can see each offset once and in order (the page's UI hides doubles).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypedDict

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocket, expect

from livedesk.standalone import demo
from tests.support.browser import chromium
from tests.system.test_standalone import DEMO_PASSWORD, Standalone

# A client beside the page's own that keeps the offsets of persistent events, in the order
# it was given them. It shares the tabs' socket like any other client of the login.
RECORDER = """async (token) => {
  const { connect } = await import("/static/client/index.js");
  window.recorded = [];
  const client = connect({ url: location.origin, token: () => token });
  const persistent = ["new_message", "new_conversation", "conversation_updated", "message_read"];
  client.on("*", (event) => {
    if (persistent.includes(event.type)) {
      window.recorded.push({ offset: event.offset, content: event.data.content ?? null });
    }
  });
  await client.opened();
}"""


class Recorded(TypedDict):
    offset: int
    content: str | None


@pytest.fixture
async def context() -> AsyncIterator[BrowserContext]:
    launched: Browser
    async with chromium() as launched:
        made = await launched.new_context()
        yield made
        await made.close()


async def login(base: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        body = {"email": email, "password": DEMO_PASSWORD}
        response = await http.post("/v1/auth/token", json=body)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


async def open_tab(
    context: BrowserContext, base: str, sockets: list[WebSocket], *, sign_in: bool
) -> Page:
    """A tab of the inbox; the second of a login is signed in by the first's refresh cookie."""
    page = await context.new_page()
    page.on("websocket", lambda socket: sockets.append(socket))
    await page.goto(base + "/")
    if sign_in:
        await page.fill("#email", demo.AGENT.email)
        await page.fill("#password", DEMO_PASSWORD)
        await page.click("#login button")
    await expect(page.locator("#status")).to_have_text("live")
    await page.click(".conv")
    await page.evaluate(RECORDER, await login(base, demo.AGENT.email))
    return page


@pytest.mark.timeout(120)
async def test_two_tabs_share_one_socket_and_hand_it_over(
    context: BrowserContext, tmp_path: Path
) -> None:
    standalone = Standalone(tmp_path / "data")
    try:
        await standalone.ready()
        admin = await login(standalone.base, demo.ADMIN.email)
        sockets: list[WebSocket] = []
        leader = await open_tab(context, standalone.base, sockets, sign_in=True)
        follower = await open_tab(context, standalone.base, sockets, sign_in=False)
        assert len(sockets) == 1, "the second tab and both recorders use the first tab's socket"

        async with httpx.AsyncClient(
            base_url=standalone.base, headers={"authorization": f"Bearer {admin}"}
        ) as http:
            # The conversation the tabs opened: the list's first, newest activity.
            conversation = (await http.get("/v1/conversations")).json()["items"][0]["id"]

            async def post(content: str) -> None:
                body = {"content": content, "kind": "incoming"}
                path = f"/v1/conversations/{conversation}/messages:import"  # as the contact
                (await http.post(path, json=body)).raise_for_status()

            for content in ("before 1", "before 2"):
                await post(content)
            for page in (leader, follower):
                await expect(page.locator(".msg", has_text="before 2")).to_be_visible()

            # Offline, the tab that takes over waits for the network: these messages are
            # written while no tab has a socket, and come with the new one's resume.
            await context.set_offline(True)
            await leader.close()  # the browser releases its lock: the other tab takes over
            for content in ("during 1", "during 2"):
                await post(content)
            await context.set_offline(False)
            await expect(follower.locator(".msg", has_text="during 2")).to_be_visible()
            await post("after")
            await expect(follower.locator(".msg", has_text="after")).to_be_visible()

        posted = ["before 1", "before 2", "during 1", "during 2", "after"]
        for content in posted:
            await expect(follower.locator(".msg", has_text=content)).to_have_count(1)
        await expect(follower.locator("#status")).to_have_text("live")
        recorded = await wait_for_recorded(follower, "after")
        offsets = [entry["offset"] for entry in recorded]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), recorded
        assert [entry["content"] for entry in recorded if entry["content"]] == posted
        assert len(sockets) == 2, "the leader's, gone with its tab, then the follower's"
        assert not sockets[1].is_closed()
    finally:
        standalone.stop()


async def wait_for_recorded(page: Page, last: str) -> list[Recorded]:
    """The recorder's offsets once it has the last message (the UI may show it first)."""
    for _ in range(100):
        recorded: list[Recorded] = await page.evaluate("window.recorded")
        if any(entry["content"] == last for entry in recorded):
            return recorded
        await asyncio.sleep(0.1)
    raise AssertionError(f"the recorder never got {last!r}")
