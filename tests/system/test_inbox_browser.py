"""The inbox page in a real browser against `livedesk standalone`, as agents use it.

Headless Chromium (tests/support/browser.py) signs in through the form; customers write in
through the admin's import (tests/support/inbox_ui.py). One agent works a conversation (list,
reply, note, contact, assign, snooze dialog, resolve, reopen); two agents in two browser
contexts see each other's work live, with the right badges and order; the keyboard drives it;
a reload keeps the session and logout ends it; a 375 px phone gets one pane at a time; axe-core
finds no serious or critical violation on the login page, the list or a conversation.
Screenshots of each view go to LIVEDESK_ARTIFACTS. The harder cases (a gateway killed,
concurrent resolves, notifications, unread counts against an independent count) are
tests/system/test_inbox_team_browser.py's (branch inbox-e2e). Also here: a reply written
offline is sent once, a revoked session returns to the sign-in form, and long lists and
conversations load page by page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from livedesk.standalone import demo
from tests.support.browser import chromium
from tests.support.inbox_ui import (
    PHONE,
    Customers,
    Tab,
    axe_violations,
    open_tab,
    row,
    screenshot,
    sign_in,
)
from tests.system.test_standalone import DEMO_PASSWORD, Standalone


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def standalone(tmp_path: Path) -> AsyncIterator[Standalone]:
    running = Standalone(tmp_path / "data")
    try:
        await running.ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
async def customers(standalone: Standalone) -> AsyncIterator[Customers]:
    async with Customers(standalone.base, demo.ADMIN.email, DEMO_PASSWORD) as playing:
        yield playing


def conversations(page: Page) -> object:
    return page.get_by_role("navigation", name="Conversations").get_by_role("option")


async def first_row_id(page: Page) -> int:
    return int(await page.locator(".conv").first.get_attribute("data-conversation-id") or 0)


@pytest.mark.timeout(120)
async def test_an_agent_works_a_conversation(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    maria = await customers.start("Maria Lopez", "Hi! My parcel has not arrived.", "Order 1042.")
    tom = await customers.start("Tom Becker", "I was charged twice this month.")
    tab = await open_tab(browser, standalone.base)
    page = tab.page
    assert await axe_violations(page) == []
    await screenshot(page, "login")

    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    nav = page.get_by_role("navigation", name="Conversations")
    await expect(nav.get_by_role("option", name="Maria Lopez")).to_be_visible()
    await expect(row(page, tom)).to_contain_text("I was charged twice this month.")
    await expect(row(page, maria)).to_contain_text("Order 1042.")
    await expect(row(page, tom).locator("[data-unread]")).to_have_attribute("data-unread", "1")
    assert await first_row_id(page) == tom  # newest activity first
    usable = await page.evaluate("performance.getEntriesByName('inbox:usable').length")
    assert usable == 1
    assert "Livedesk" in await page.title()
    assert "v1" not in await page.inner_text("header")
    assert await axe_violations(page) == []
    await screenshot(page, "list")

    await nav.get_by_role("option", name="Maria Lopez").click()
    messages = page.locator("#messages [data-message-id]")
    await expect(messages).to_have_count(2)
    await expect(page.locator("#messages .day")).to_have_text("Today")
    await expect(row(page, maria).locator("[data-unread]")).to_have_attribute("data-unread", "0")
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("Your parcel left the depot this morning.")
    await composer.press("Enter")
    await expect(page.locator(".msg.outgoing", has_text="left the depot")).to_have_count(1)
    await page.locator("#compose").get_by_text("Private note").click()
    await composer.type("Customer asked twice")
    await composer.press("Shift+Enter")  # a new line, not a send
    await composer.type("check the carrier")
    await expect(page.locator(".msg.note")).to_have_count(0)
    await composer.press("Enter")
    note = page.locator(".msg.note", has_text="check the carrier")
    await expect(note).to_contain_text("Private note")
    await expect(note.locator(".msg-text")).to_have_text("Customer asked twice\ncheck the carrier")
    await expect(page.locator(".unsent")).to_have_count(0)
    await expect(row(page, maria)).to_contain_text("Note: Customer asked twice")
    await expect(page.locator("#contact")).to_contain_text("maria.lopez@example.net")
    assert await axe_violations(page) == []
    await screenshot(page, "conversation")

    await page.get_by_role("button", name="Assign").click()
    menu = page.get_by_role("menu", name="Assign to")
    await expect(menu).to_be_visible()
    alice = await customers.agent_name(demo.AGENT.email)
    await menu.get_by_role("menuitemradio", name=f"{alice} (me)").click()
    await expect(page.locator("#conv-meta")).to_contain_text("Assigned to You")
    await expect(row(page, maria)).to_contain_text("You")

    snooze = page.get_by_role("button", name="Snooze", exact=True)
    await snooze.click()
    dialog = page.get_by_role("dialog", name="Snooze until…")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("button", name="In 1 hour")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(snooze).to_be_focused()

    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    await expect(row(page, maria)).to_have_count(0)  # the list shows open ones
    # Changing the filter with a conversation open (once a TypeError) keeps it open.
    await page.get_by_label("Status").select_option("resolved")
    await expect(row(page, maria)).to_be_visible()
    await page.get_by_role("button", name="Reopen").click()
    await expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    await expect(row(page, maria)).to_have_count(0)
    await page.get_by_label("Status").select_option("open")
    await expect(row(page, maria)).to_be_visible()
    assert await first_row_id(page) == maria
    assert tab.errors == []


@pytest.mark.timeout(120)
async def test_two_agents_see_each_other_live(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    maria = await customers.start("Maria Lopez", "Hi! My parcel has not arrived.")
    tom = await customers.start("Tom Becker", "I was charged twice this month.")
    alice_name = await customers.agent_name(demo.AGENT.email)
    admin_name = await customers.agent_name(demo.ADMIN.email)
    admin_tab = await open_tab(browser, standalone.base)
    alice_tab = await open_tab(browser, standalone.base)
    admin, alice = admin_tab.page, alice_tab.page
    await sign_in(admin, demo.ADMIN.email, DEMO_PASSWORD)
    await sign_in(alice, demo.AGENT.email, DEMO_PASSWORD)
    for page in (admin, alice):
        await row(page, maria).click()
        await expect(page.locator("#messages [data-message-id]")).to_have_count(1)
    await expect(admin.locator(".agent", has_text=alice_name)).to_contain_text("online")

    composer = alice.get_by_role("textbox", name="Message")
    await composer.fill("Checking")
    await composer.press("Space")  # an input event: the page sends typing start
    await expect(admin.locator("#typing")).to_have_text(f"{alice_name} is typing…")
    await composer.fill("Your parcel left the depot this morning.")
    await alice.get_by_role("button", name="Send").click()
    await expect(admin.locator(".msg", has_text="left the depot")).to_have_count(1)
    await expect(admin.locator("#typing")).to_have_text("")
    await expect(alice.locator("#messages .seen")).to_have_text(f"Seen by {admin_name}")

    await admin.locator("#compose").get_by_text("Private note").click()
    await admin.get_by_role("textbox", name="Message").fill("VIP customer, be quick")
    await admin.get_by_role("textbox", name="Message").press("Enter")
    await expect(alice.locator(".msg.note", has_text="VIP customer")).to_have_count(1)

    # A customer writes in a conversation Alice does not have open: badge up, row to the top.
    await customers.write(tom, "Any news on the refund?")
    await expect(row(alice, tom).locator("[data-unread]")).to_have_attribute("data-unread", "2")
    await expect(row(alice, tom)).to_contain_text("Any news on the refund?")
    assert await first_row_id(alice) == tom
    # The demo panel (standalone is a demo) plays the customer in the admin's open one.
    await admin.get_by_text("Demo", exact=True).click()
    await admin.get_by_role("button", name="Customer writes in this conversation").click()
    await expect(alice.locator("#messages [data-message-id]")).to_have_count(4)
    await expect(alice.locator(".conv").first).to_have_attribute("data-conversation-id", str(maria))

    await row(admin, tom).click()
    await admin.get_by_role("button", name="Assign").click()
    await admin.get_by_role("menuitemradio", name=alice_name).click()
    await expect(row(alice, tom)).to_contain_text("You")
    await admin.get_by_role("button", name="Resolve").click()
    await expect(row(alice, tom)).to_have_count(0)
    await admin.get_by_role("button", name="Reopen").click()
    await expect(row(alice, tom)).to_contain_text("You")
    await expect(row(alice, tom).locator("[data-unread]")).to_have_attribute("data-unread", "2")
    await row(alice, tom).click()
    await expect(row(alice, tom).locator("[data-unread]")).to_have_attribute("data-unread", "0")
    await expect(alice.locator("#conv-meta")).to_contain_text("Assigned to You")
    await admin.get_by_role("button", name="Resolve").click()
    await expect(alice.get_by_role("button", name="Reopen")).to_be_visible()
    assert admin_tab.errors == []
    assert alice_tab.errors == []


@pytest.mark.timeout(120)
async def test_a_snooze_shows_live_and_the_conversation_wakes_by_itself(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    tom = await customers.start("Tom Becker", "I was charged twice this month.")
    admin_tab = await open_tab(browser, standalone.base)
    alice_tab = await open_tab(browser, standalone.base)
    admin, alice = admin_tab.page, alice_tab.page
    await sign_in(admin, demo.ADMIN.email, DEMO_PASSWORD)
    await sign_in(alice, demo.AGENT.email, DEMO_PASSWORD)
    snoozed_option = alice.locator("#status-filter option[value=snoozed]")
    await expect(snoozed_option).to_have_text("Snoozed (0)")

    await row(admin, tom).click()
    await admin.get_by_role("button", name="Snooze", exact=True).click()
    await (
        admin.get_by_role("dialog", name="Snooze until…")
        .get_by_role("button", name="In 1 hour")
        .click()
    )
    await expect(row(alice, tom)).to_have_count(0)  # Alice's list shows open ones
    await expect(snoozed_option).to_have_text("Snoozed (1)")
    await alice.get_by_label("Status").select_option("snoozed")
    await expect(row(alice, tom)).to_be_visible()

    # Snoozed again until two seconds from now: the API reopens it by itself, live.
    current = (await customers.http.get(f"/v1/conversations/{tom}")).json()
    until = datetime.now(UTC) + timedelta(seconds=2)
    await customers.http.patch(
        f"/v1/conversations/{tom}",
        json={
            "status": "snoozed",
            "snoozed_until": until.isoformat(),
            "version": current["version"],
        },
    )
    await expect(row(alice, tom)).to_have_count(0, timeout=10_000)
    await expect(snoozed_option).to_have_text("Snoozed (0)")
    await alice.get_by_label("Status").select_option("open")
    await expect(row(alice, tom)).to_be_visible()
    await expect(admin.get_by_role("button", name="Resolve")).to_be_visible()
    assert admin_tab.errors == []
    assert alice_tab.errors == []


@pytest.mark.timeout(120)
async def test_the_keyboard_drives_the_inbox(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    maria = await customers.start("Maria Lopez", "Hi! My parcel has not arrived.")
    tom = await customers.start("Tom Becker", "I was charged twice this month.")
    tab = await open_tab(browser, standalone.base)
    page = tab.page
    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    await expect(row(page, maria)).to_be_visible()

    await page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_dialog).to_contain_text("Resolve")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()

    await page.keyboard.press("j")
    await expect(row(page, tom)).to_be_focused()
    await page.keyboard.press("j")
    await expect(row(page, maria)).to_be_focused()
    await page.keyboard.press("k")
    await expect(row(page, tom)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#conv-title")).to_have_text("Tom Becker")

    composer = page.get_by_role("textbox", name="Message")
    await page.locator("#messages").focus()
    await page.keyboard.press("n")
    await expect(composer).to_be_focused()
    await expect(page.get_by_label("Private note")).to_be_checked()
    await page.keyboard.press("Escape")  # leaves the box; shortcuts work again
    await page.keyboard.press("r")
    await expect(page.get_by_label("Reply")).to_be_checked()
    await expect(composer).to_be_focused()
    await page.keyboard.press("Escape")

    await page.keyboard.press("a")
    await expect(page.get_by_role("menu", name="Assign to")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("menu", name="Assign to")).to_be_hidden()
    await expect(page.get_by_role("button", name="Assign")).to_be_focused()

    await page.keyboard.press("e")
    await expect(page.get_by_role("button", name="Reopen")).to_be_visible()

    await page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search")
    await expect(search).to_be_focused()
    await search.fill("parcel")
    await expect(row(page, maria)).to_be_visible()
    await expect(row(page, tom)).to_have_count(0)
    await search.fill("")
    await expect(row(page, tom)).to_have_count(0)  # resolved: not in the open list
    await expect(row(page, maria)).to_be_visible()
    assert tab.errors == []


@pytest.mark.timeout(120)
async def test_a_revoked_session_returns_the_page_to_the_sign_in_form(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    tab = await open_tab(browser, standalone.base)
    page = tab.page
    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    alice = await customers.agent_id(demo.AGENT.email)
    await customers.post(f"/v1/agents/{alice}/sessions/revoke", {})
    # The socket is closed for it, and no REST call or refresh is accepted any more.
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=15_000)
    await expect(page.locator("#app")).to_be_hidden()
    assert tab.errors == []


@pytest.mark.timeout(120)
async def test_a_reload_keeps_the_session_and_logout_ends_it(
    browser: Browser, standalone: Standalone
) -> None:
    tab = await open_tab(browser, standalone.base)
    page = tab.page
    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    await page.get_by_label("Status").select_option("resolved")
    await page.get_by_text("Mine").click()
    await page.reload()  # the access token in memory is gone; the refresh cookie is not
    await expect(page.locator("#status")).to_have_text("live")
    await expect(page.get_by_role("button", name="Sign in")).to_be_hidden()
    # The filters are the agent's preference, kept across the reload.
    await expect(page.get_by_label("Status")).to_have_value("resolved")
    await expect(page.get_by_role("radio", name="Mine")).to_be_checked()
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await page.reload()  # the session is over: no refresh brings it back
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()
    assert tab.errors == []


@pytest.mark.timeout(120)
async def test_a_phone_shows_one_pane_at_a_time(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    maria = await customers.start("Maria Lopez", "Hi! My parcel has not arrived.")
    tab: Tab = await open_tab(browser, standalone.base, PHONE)
    page = tab.page
    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    await expect(row(page, maria)).to_be_visible()
    await expect(page.locator("#thread")).to_be_hidden()
    wider = "document.scrollingElement.scrollWidth > window.innerWidth"
    assert not await page.evaluate(wider)
    await screenshot(page, "phone-list")
    await row(page, maria).click()
    await expect(page.get_by_role("navigation", name="Conversations")).to_be_hidden()
    await expect(page.locator("#messages [data-message-id]")).to_have_count(1)
    await expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    assert not await page.evaluate(wider)
    await screenshot(page, "phone-conversation")
    await page.get_by_role("button", name="Contact", exact=True).click()
    await expect(page.locator("#contact")).to_contain_text("maria.lopez@example.net")
    await screenshot(page, "contact-panel")
    await page.get_by_role("button", name="Close contact details").click()
    await expect(page.get_by_role("button", name="Contact", exact=True)).to_be_focused()
    await page.get_by_role("button", name="Back to conversations").click()
    await expect(row(page, maria)).to_be_focused()
    assert tab.errors == []


@pytest.mark.timeout(120)
async def test_a_reply_written_offline_is_sent_once_when_back(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    maria = await customers.start("Maria Lopez", "Hi! My parcel has not arrived.")
    tab = await open_tab(browser, standalone.base)
    page = tab.page
    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    await row(page, maria).click()
    await expect(page.locator("#messages [data-message-id]")).to_have_count(1)
    banner = page.get_by_role("status")
    await expect(banner).to_have_text("")

    await page.context.set_offline(True)
    await expect(banner).to_contain_text("offline")
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("Written on the train")
    await composer.press("Enter")
    await expect(page.locator(".unsent")).to_contain_text("Waiting for connection")
    await expect(banner).to_contain_text("1 message waiting to be sent")

    await page.context.set_offline(False)
    await expect(page.locator(".unsent")).to_have_count(0)
    await expect(page.locator(".msg", has_text="Written on the train")).to_have_count(1)
    await expect(banner).to_have_text("")
    written = (await customers.http.get(f"/v1/conversations/{maria}/messages")).json()["items"]
    assert [m["content"] for m in written].count("Written on the train") == 1
    assert tab.errors == []


@pytest.mark.timeout(120)
async def test_long_lists_and_conversations_load_as_the_agent_scrolls(
    browser: Browser, standalone: Standalone, customers: Customers
) -> None:
    # Past one page of each (40 conversations, 50 messages): the rest comes by cursor.
    chatty = await customers.start("Maria Lopez", *(f"Message {n}" for n in range(1, 71)))
    for n in range(45):
        await customers.start(f"Customer {n:02}", "Hello")
    tab = await open_tab(browser, standalone.base)
    page = tab.page
    await sign_in(page, demo.AGENT.email, DEMO_PASSWORD)
    rows = page.locator(".conv")
    await expect(rows).to_have_count(40)
    listed = await customers.http.get("/v1/conversations?status=open&limit=200")
    total = len(listed.json()["items"])  # the page shows open ones by default
    while await rows.count() < total:
        await rows.last.scroll_into_view_if_needed()
        await page.wait_for_timeout(100)
    await expect(rows).to_have_count(total)
    ids = [await r.get_attribute("data-conversation-id") for r in await rows.all()]
    assert len(set(ids)) == total

    await row(page, chatty).click()
    messages = page.locator("#messages [data-message-id]")
    await expect(messages).to_have_count(50)
    await expect(messages.last).to_contain_text("Message 70")
    await page.locator("#messages").evaluate("box => box.scrollTo(0, 0)")
    await expect(messages).to_have_count(70)
    await expect(messages.first).to_contain_text("Message 1")
    assert tab.errors == []
