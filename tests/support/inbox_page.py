"""What the team tests read off the inbox page, beside `inbox_ui` (tabs, signing in, rows):
the `inbox:usable` mark, each row's `data-unread` badge, the open conversation's
`data-message-id`s, the composer, and the notifications the page made.

Also the two init scripts the notification test needs: a tab that says it is hidden, and a
`Notification` that records each one the page makes. Not here: the stacks the page runs on.
"""

from __future__ import annotations

import asyncio
from typing import Final, TypedDict

from playwright.async_api import Locator, Page

from tests.support.inbox_ui import row

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


async def sign_in(page: Page, email: str, password: str) -> None:
    """`inbox_ui.sign_in`, but done when the page marks itself usable, and as patient as a
    machine shared with the stack's five processes needs (its 5 s are not, under load)."""
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


async def open_conversation(page: Page, conversation_id: int) -> None:
    await row(page, conversation_id).click()


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


def thread(page: Page) -> Locator:
    """The open conversation's messages (the list's previews repeat their text)."""
    return page.get_by_role("log", name="Messages")


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


async def send_reply(page: Page, text: str) -> None:
    await composer(page).fill(text)
    await page.get_by_role("button", name="Send").click()
