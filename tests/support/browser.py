"""The Chromium the browser tests drive, found where `dev.py` provides it.

Debian's package on the development machines (Playwright's own browser download cannot work
there), else a browser Playwright installed, else the path in LIVEDESK_TEST_CHROMIUM.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from playwright.async_api import Browser, async_playwright

# Without these, Chromium reaches for the network at start-up, which these machines refuse.
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING: Final = (
    "browser tests need Chromium: run `python3 dev.py check` (it installs one), "
    "`apt-get install chromium`, or set LIVEDESK_TEST_CHROMIUM"
)


def chromium_path() -> str | None:
    """An explicit path, Debian's chromium, or None for the browser Playwright installed."""
    if chosen := os.environ.get("LIVEDESK_TEST_CHROMIUM"):
        return chosen
    return shutil.which("chromium") or shutil.which("chromium-browser")


def playwright_has_chromium() -> bool:
    return any(Path.home().glob(".cache/ms-playwright/chromium-*/chrome-linux*/chrome"))


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None and not playwright_has_chromium():
        raise RuntimeError(MISSING)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
