"""Driving the inbox page in tests: sign in through its form, seed conversations the way a
customer's messages arrive (the admin's import), keep screenshots, and run axe-core.

Screenshots go to `LIVEDESK_ARTIFACTS` (default `.artifacts/screenshots` at the repository's
root), for a person to look at after a run. axe-core is clients/js's dev dependency: `npm ci`
there (`python3 dev.py check` runs it before the tests) provides it, offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from playwright.async_api import Browser, Page, expect

ROOT: Final = Path(__file__).resolve().parents[2]
AXE: Final = ROOT / "clients" / "js" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP: Final = {"width": 1366, "height": 820}
PHONE: Final = {"width": 375, "height": 740}
# axe's impacts that fail a test: a person cannot use the page, or only with great effort.
BLOCKING: Final = ("serious", "critical")


def artifacts() -> Path:
    where = Path(os.environ.get("LIVEDESK_ARTIFACTS") or ROOT / ".artifacts" / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=artifacts() / f"{name}.png")


@dataclass
class Tab:
    """A page of the inbox in a browser context of its own, with the script errors it threw."""

    page: Page
    errors: list[str]


async def open_tab(browser: Browser, base: str, viewport: dict[str, int] = DESKTOP) -> Tab:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    tab = Tab(page, [])
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    await page.goto(base + "/")
    return tab


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#status")).to_have_text("live")


def row(page: Page, conversation_id: int) -> Any:
    return page.locator(f'[data-conversation-id="{conversation_id}"]')


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` in clients/js"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # The page's CSP refuses inline scripts (a script tag); evaluating the source as
        # DevTools does is not subject to it, so the policy under test stays as served.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = await page.evaluate(
        "async () => await axe.run(document, { resultTypes: ['violations'] })"
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
        if violation["impact"] in BLOCKING
    ]


@dataclass(frozen=True)
class Seeded:
    conversations: dict[str, int]  # contact name -> conversation id


class Customers:
    """Customers writing in, through the admin's import (as a channel would post them)."""

    def __init__(self, base: str, email: str, password: str) -> None:
        self.base = base
        self.email = email
        self.password = password

    async def __aenter__(self) -> Customers:
        self.http = httpx.AsyncClient(base_url=self.base)
        response = await self.http.post(
            "/v1/auth/token", json={"email": self.email, "password": self.password}
        )
        response.raise_for_status()
        self.http.headers["authorization"] = f"Bearer {response.json()['access_token']}"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        response = await self.http.post(path, json=body)
        assert response.status_code in (200, 201, 204), response.text
        return None if response.status_code == 204 else response.json()

    async def start(self, name: str, *lines: str) -> int:
        """A new contact starts a conversation with these messages; its id."""
        inbox = (await self.http.get("/v1/inboxes")).json()["items"][0]["id"]
        email = name.lower().replace(" ", ".") + "@example.net"
        contact = await self.post("/v1/contacts", {"name": name, "email": email})
        conversation = await self.post(
            "/v1/conversations", {"inbox_id": inbox, "contact_id": contact["id"]}
        )
        for line in lines:
            await self.write(conversation["id"], line)
        conversation_id: int = conversation["id"]
        return conversation_id

    async def write(self, conversation_id: int, content: str) -> None:
        await self.post(
            f"/v1/conversations/{conversation_id}/messages:import",
            {"content": content, "kind": "incoming"},
        )

    async def agent_id(self, email: str) -> int:
        agents = (await self.http.get("/v1/agents")).json()
        found: int = next(agent["id"] for agent in agents["items"] if agent["email"] == email)
        return found

    async def agent_name(self, email: str) -> str:
        """An agent's name as the page shows it (the demo's names are the demo's to choose)."""
        agents = (await self.http.get("/v1/agents")).json()
        name: str = next(agent["name"] for agent in agents["items"] if agent["email"] == email)
        return name
