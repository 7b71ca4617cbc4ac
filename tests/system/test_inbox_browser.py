"""The inbox UI in a real browser against `livedesk standalone`, as two agents would use it.

Headless Chromium (tests/support/browser.py) signs in as the admin and as an
agent in two pages. The agent types: the admin sees the indicator; the agent sends: the admin
sees the reply appear live, without reloading; both see each other online. A reload keeps
an agent signed in (the refresh cookie), and logging out ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from livedesk.standalone import demo
from tests.support.browser import chromium
from tests.system.test_standalone import DEMO_PASSWORD, Standalone


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def sign_in(browser: Browser, base: str, email: str) -> Page:
    page = await browser.new_page()
    await page.goto(base + "/")
    await page.fill("#email", email)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login button")
    await expect(page.locator("#status")).to_have_text("live")
    return page


@pytest.mark.timeout(120)
async def test_two_agents_see_each_other_live(browser: Browser, tmp_path: Path) -> None:
    standalone = Standalone(tmp_path / "data")
    try:
        await standalone.ready()
        admin = await sign_in(browser, standalone.base, demo.ADMIN.email)
        agent = await sign_in(browser, standalone.base, demo.AGENT.email)
        for page in (admin, agent):
            await page.click(".conv")  # the first: the same for both
            await expect(page.locator(".msg").first).to_be_visible()

        await expect(admin.locator("#agents")).to_contain_text(demo.AGENT.name)
        await expect(admin.locator(".agent", has_text=demo.AGENT.name)).to_contain_text("online")

        await agent.fill("#text", "Checking")
        await agent.press("#text", "Space")  # an input event: the page sends typing start
        await expect(admin.locator("#typing")).to_have_text(f"{demo.AGENT.name} typing…")

        await agent.fill("#text", "Your parcel left the depot this morning.")
        await agent.click("#compose button")
        reply = admin.locator(".msg", has_text="Your parcel left the depot")
        await expect(reply).to_be_visible()
        await expect(admin.locator("#typing")).to_have_text("")
    finally:
        standalone.stop()


@pytest.mark.timeout(120)
async def test_a_reload_keeps_the_session_and_logout_ends_it(
    browser: Browser, tmp_path: Path
) -> None:
    standalone = Standalone(tmp_path / "data")
    try:
        await standalone.ready()
        page = await sign_in(browser, standalone.base, demo.AGENT.email)
        await page.reload()  # the access token in memory is gone; the refresh cookie is not
        await expect(page.locator("#status")).to_have_text("live")
        await expect(page.locator("#login")).to_be_hidden()
        await page.click("#logout")
        await expect(page.locator("#login")).to_be_visible()
        await page.reload()  # the session is over: no refresh brings it back
        await expect(page.locator("#login")).to_be_visible()
        await expect(page.locator("#app")).to_be_hidden()
    finally:
        standalone.stop()
