"""The inbox page as the browser tests see it: the hooks docs/inbox-contract lists (accessible
names, `data-conversation-id`, `data-unread`, `data-message-id`, the `inbox:usable` mark),
in one place, so that a test reads as what an agent does.

Also the two init scripts the notification test needs: a tab that says it is hidden, and a
`Notification` that records each one the page makes. Not here: the stacks the page runs on.
"""

from __future__ import annotations

import asyncio
from typing import Final, TypedDict

from playwright.async_api import Browser, Locator, Page

USABLE: Final = "performance.getEntriesByName('inbox:usable').length > 0"
WAIT_MS: Final = 20_000

# A tab in the background, for the page's point of view: `document.hidden` and
# `visibilityState` say so from the first script on (headless tabs are always visible).
HIDDEN_TAB: Final = """
Object.defineProperty(Document.prototype, "hidden", { get: () => true, configurable: true });
Object.defineProperty(Document.prototype, "visibilityState",
                      { get: () => "hidden", configurable: true });
Document.prototype.hasFocus = () => false;
"""
# Every notification the page makes, kept in `window.notified` (the real one is made too).
RECORD_NOTIFICATIONS: Final = """
(() => {
  const Real = window.Notification;
  window.notified = [];
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.notified.push({ title: String(title), body: String(options.body ?? ""),
                             tag: String(options.tag ?? "") });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""
UNREAD_BADGES: Final = """() => Object.fromEntries(
  [...document.querySelectorAll("[data-conversation-id]")].map((item) => {
    const badge = item.matches("[data-unread]") ? item : item.querySelector("[data-unread]");
    return [item.dataset.conversationId, badge ? Number(badge.dataset.unread) : 0];
  }))"""
MESSAGE_IDS: Final = """() => [...document.querySelectorAll("[data-message-id]")]
  .map((message) => message.dataset.messageId)
  .filter((id) => /^[0-9]+$/.test(id)).map(Number)"""


class Notified(TypedDict):
    title: str
    body: str
    tag: str


async def new_tab(browser: Browser) -> Page:
    """A tab in a browser context of its own: one agent's browser."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    return await context.new_page()


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Sign the tab in; return once its list is usable."""
    await page.goto(base + "/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await until_usable(page)


async def until_usable(page: Page) -> None:
    """Until the page marks `inbox:usable`. Polled with `evaluate`: the page's CSP forbids
    the string evaluation `wait_for_function` does in the page."""
    try:
        async with asyncio.timeout(WAIT_MS / 1000):
            while not await page.evaluate(USABLE):  # noqa: ASYNC110  (state in the page)
                await asyncio.sleep(0.05)
    except TimeoutError:
        shown = await page.locator("body").inner_text()
        raise AssertionError(
            f"no inbox:usable after {WAIT_MS} ms; the page says:\n{shown}"
        ) from None


def conversation(page: Page, conversation_id: int) -> Locator:
    """The conversation's item in the list."""
    return page.locator(f'[data-conversation-id="{conversation_id}"]')


async def open_conversation(page: Page, conversation_id: int) -> None:
    await conversation(page, conversation_id).click()


async def unread_badges(page: Page) -> dict[int, int]:
    """Each listed conversation's badge (0 when it shows none)."""
    badges: dict[str, int] = await page.evaluate(UNREAD_BADGES)
    return {int(key): value for key, value in badges.items()}


async def message_ids(page: Page) -> list[int]:
    """The ids of the messages the open conversation shows, in the page's order."""
    ids: list[int] = await page.evaluate(MESSAGE_IDS)
    return ids


async def notified(page: Page) -> list[Notified]:
    made: list[Notified] = await page.evaluate("window.notified")
    return made


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


async def send_reply(page: Page, text: str) -> None:
    await composer(page).fill(text)
    await page.get_by_role("button", name="Send").click()
