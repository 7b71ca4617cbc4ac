"""What the bench measures in the page, in headless Chromium driven by Playwright.

Each figure is read from the page's own clock (`performance`), so the driver's round trips
are not in it:
- usable: the page's `inbox:usable` mark, whose start time counts from the navigation's
  start (`timeOrigin`), on reloads of a signed-in page (the refresh cookie signs it in),
  and once from the "Sign in" click;
- open: from the click on the long conversation (a capturing listener notes its time)
  until its newest message intersects the viewport (IntersectionObserver's entry time, which
  counts clipping by every scrolling ancestor);
- apply: the page's `inbox:apply` measures while the bench posts contacts' messages over
  REST, one at a time, each awaited in the page before the next.
Chromium's own trace (`start_tracing`) is recorded around the last reload and the live
events, for the main thread's busy time (`trace`): per live event, it counts what the
measure leaves out (the fetches an event sets off, rendering, a read receipt), and the
driver's two calls per event, which wait in the page rather than poll. Playwright's trace
of the whole run is kept too.
Deliberately not here: the server and the seed.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from playwright.async_api import Browser, Page, async_playwright

from bench.inbox_page import trace
from bench.inbox_page.seed import ADMIN_EMAIL, PASSWORD, Seeded

# Without these, Chromium reaches for the network at start-up, which these machines refuse.
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: Final = {"width": 1280, "height": 800}
WAIT_MS: Final = 60_000
USABLE: Final = "performance.getEntriesByName('inbox:usable').length > 0"
USABLE_AT: Final = "performance.getEntriesByName('inbox:usable')[0].startTime"
NOTE_CLICK: Final = """() => {
  window.__benchClickAt = null;
  document.addEventListener("click", () => { window.__benchClickAt = performance.now(); },
                            { capture: true, once: true });
}"""
UNTIL_VISIBLE: Final = """(messageId) => new Promise((resolve, reject) => {
  const deadline = performance.now() + 60000;
  const seen = (message) => {
    const observer = new IntersectionObserver((entries) => {
      const visible = entries.find((entry) => entry.isIntersecting);
      if (!visible) return;
      observer.disconnect();
      resolve(visible.time - window.__benchClickAt);
    });
    observer.observe(message);
  };
  const look = () => {  // once a frame, until the message is in the document
    const message = document.querySelector(`[data-message-id="${messageId}"]`);
    if (message) seen(message);
    else if (performance.now() > deadline) reject(new Error(`message ${messageId} never came`));
    else requestAnimationFrame(look);
  };
  look();
})"""
APPLIED: Final = "performance.getEntriesByName('inbox:apply').length"
# Resolves once there are more than `before` apply measures: one call that waits in the page,
# so that the driver's polling does not add to the main thread's busy time.
APPLIED_MORE: Final = """(before) => new Promise((resolve) => {
  const count = () => performance.getEntriesByName("inbox:apply").length;
  if (count() > before) { resolve(); return; }
  const observer = new PerformanceObserver(() => {
    if (count() > before) { observer.disconnect(); resolve(); }
  });
  observer.observe({ type: "measure" });
})"""
APPLY_DURATIONS: Final = "performance.getEntriesByName('inbox:apply').map((m) => m.duration)"


async def until_true(page: Page, expression: str) -> None:
    """Until `expression` is true in the page. Polled with `evaluate`: the page's CSP forbids
    the string evaluation `wait_for_function` does; the figures come from the page's clock,
    so the polling's delay is not in them."""
    async with asyncio.timeout(WAIT_MS / 1000):
        while not await page.evaluate(expression):  # noqa: ASYNC110  (state in the page)
            await asyncio.sleep(0.02)


@dataclass
class Figures:
    sign_in_to_usable_ms: float = 0.0
    reload_to_usable_ms: list[float] = field(default_factory=list)
    open_long_ms: float = 0.0
    apply_ms: list[float] = field(default_factory=list)
    events_posted: int = 0
    reload_busy_ms: float | None = None
    events_busy_ms: float | None = None
    artifacts: list[Path] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        applied = sorted(self.apply_ms)
        return {
            "sign_in_to_usable_ms": self.sign_in_to_usable_ms,
            "reload_to_usable_ms": self.reload_to_usable_ms,
            "reload_to_usable_median_ms": statistics.median(self.reload_to_usable_ms),
            "open_long_ms": self.open_long_ms,
            "events_posted": self.events_posted,
            "apply_measures": len(applied),
            "apply_median_ms": statistics.median(applied) if applied else None,
            "apply_p95_ms": percentile(applied, 0.95),
            "apply_max_ms": applied[-1] if applied else None,
            "reload_busy_ms": self.reload_busy_ms,
            "busy_per_event_ms": (
                self.events_busy_ms / self.events_posted
                if self.events_busy_ms is not None and self.events_posted
                else None
            ),
            "artifacts": [str(path) for path in self.artifacts],
        }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of an ordered list (None when empty)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def measure_page(
    base: str,
    seeded: Seeded,
    *,
    chromium: str | None,
    reloads: int,
    events: int,
    out_dir: Path,
    seed: int = 7,
) -> Figures:
    """The figures, and the traces written to `out_dir` (which exists)."""
    figures = Figures()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
            await context.tracing.start(screenshots=False, snapshots=False)
            page = await context.new_page()
            try:
                await _sign_in(page, base, figures)
                await _reload(browser, page, reloads, figures, out_dir)
                await _open_long(page, seeded, figures)
                await _live_events(browser, page, base, seeded, events, figures, out_dir, seed)
            finally:
                playwright_trace = out_dir / "playwright-trace.zip"
                await context.tracing.stop(path=playwright_trace)
                figures.artifacts.insert(0, playwright_trace)
                await context.close()
        finally:
            await browser.close()
    return figures


async def _sign_in(page: Page, base: str, figures: Figures) -> None:
    await page.goto(base + "/")
    await page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.evaluate(NOTE_CLICK)
    await page.get_by_role("button", name="Sign in").click()
    await until_true(page, USABLE)
    usable_at: float = await page.evaluate(USABLE_AT)
    figures.sign_in_to_usable_ms = usable_at - await page.evaluate("window.__benchClickAt")


async def _reload(
    browser: Browser, page: Page, reloads: int, figures: Figures, out_dir: Path
) -> None:
    for number in range(reloads):
        traced = number == reloads - 1  # the last, once the caches are as a user's would be
        if traced:
            await browser.start_tracing(page=page, categories=trace.CATEGORIES)
        await page.reload()
        await until_true(page, USABLE)
        figures.reload_to_usable_ms.append(await page.evaluate(USABLE_AT))
        if traced:
            recorded = await browser.stop_tracing()
            figures.reload_busy_ms = trace.busy_ms(recorded)
            path = out_dir / "chromium-trace-reload.json"
            path.write_bytes(recorded)
            figures.artifacts.append(path)


async def _open_long(page: Page, seeded: Seeded, figures: Figures) -> None:
    item = page.locator(f'[data-conversation-id="{seeded.long_conversation_id}"]')
    await page.evaluate(NOTE_CLICK)
    await item.click()
    figures.open_long_ms = await page.evaluate(UNTIL_VISIBLE, seeded.last_message_id)


async def _live_events(
    browser: Browser,
    page: Page,
    base: str,
    seeded: Seeded,
    events: int,
    figures: Figures,
    out_dir: Path,
    seed: int,
) -> None:
    """Contacts' messages, half into the open conversation and half into others spread over
    the whole list (most of them not loaded in the page yet), each awaited in the page."""
    chooser = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = {"email": ADMIN_EMAIL, "password": PASSWORD}
        token = (await http.post("/v1/auth/token", json=login)).json()["access_token"]
        headers = {"authorization": f"Bearer {token}"}
        await page.evaluate("performance.clearMeasures('inbox:apply')")
        await browser.start_tracing(page=page, categories=trace.CATEGORIES)
        for number in range(events):
            if number % 2 == 0:
                conversation = seeded.long_conversation_id
            else:
                first, last = seeded.first_conversation_id, seeded.long_conversation_id
                conversation = chooser.randrange(first, last)
            before: int = await page.evaluate(APPLIED)
            response = await http.post(
                f"/v1/conversations/{conversation}/messages:import",
                json={"content": f"Live message {number}", "kind": "incoming"},
                headers=headers,
            )
            response.raise_for_status()
            async with asyncio.timeout(WAIT_MS / 1000):
                await page.evaluate(APPLIED_MORE, before)
        await asyncio.sleep(1.0)  # what the last event set off (a read receipt, a fetch)
        recorded = await browser.stop_tracing()
        figures.events_posted = events
        figures.events_busy_ms = trace.busy_ms(recorded)
        figures.apply_ms = await page.evaluate(APPLY_DURATIONS)
        path = out_dir / "chromium-trace-live-events.json"
        path.write_bytes(recorded)
        figures.artifacts.append(path)
