"""`livedesk standalone`'s safe defaults and web rules, as a real process.

It listens on loopback unless told otherwise, takes its data dir from `LIVEDESK_DATA_DIR`,
and makes a random demo password that it prints and that logs in. Its /ws refuses an upgrade
from another origin with 403; its pages carry a CSP without inline script; in a browser, a
page of another origin cannot open its socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from livedesk.standalone import demo
from tests.support.browser import chromium
from tests.support.web import FOREIGN, LISTED, page_server, preflight, upgrade_status
from tests.system.test_standalone import (
    DEMO_PASSWORD,
    PRINTED_PASSWORD,
    Standalone,
    login,
)

# /proc/net/tcp's state for a listening socket, and its hex form of 127.0.0.1.
TCP_LISTEN = "0A"
LOOPBACK_HEX = "0100007F"


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as the kernel prints them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == TCP_LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.timeout(120)
async def test_the_demo_listens_on_loopback_with_a_random_password(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-the-environment"
    first = Standalone(data_dir, env={"LIVEDESK_DATA_DIR": str(data_dir)}, data_dir_flag=False)
    try:
        banner = await first.ready()
        assert listening_addresses(first.port) == {LOOPBACK_HEX}, banner
        printed = PRINTED_PASSWORD.search(banner)
        assert printed is not None, banner
        password = printed.group(1)
        assert password != "livedesk-demo"
        assert len(password) >= 16
        assert (data_dir / "livedesk.db").exists()  # LIVEDESK_DATA_DIR, not ./data
        assert (data_dir / "keys").is_dir()
        for who in demo.LOGINS:
            assert await login(first.base, who.email, password)
        async with httpx.AsyncClient(base_url=first.base) as http:
            wrong = await http.post(
                "/v1/auth/token", json={"email": demo.ADMIN.email, "password": "livedesk-demo"}
            )
            assert wrong.status_code == 401
        assert first.stop() == 0

        # Started again on its data: the password is still the one printed then, and the
        # banner says so rather than printing a new one that would not work.
        again = Standalone(data_dir, env={"LIVEDESK_DATA_DIR": str(data_dir)})
        try:
            banner = await again.ready()
            assert "using the existing data" in banner
            assert PRINTED_PASSWORD.search(banner) is None
            assert await login(again.base, demo.AGENT.email, password)
        finally:
            again.stop()
    finally:
        if first.process.poll() is None:
            first.stop()


@pytest.fixture
async def standalone(tmp_path: Path) -> AsyncIterator[Standalone]:
    env = {"LIVEDESK_DEMO_PASSWORD": DEMO_PASSWORD, "LIVEDESK_ALLOWED_ORIGINS": LISTED}
    process = Standalone(tmp_path / "data", env=env)
    try:
        await process.ready()
        yield process
    finally:
        if process.process.poll() is None:
            process.stop()


@pytest.mark.timeout(90)
async def test_an_upgrade_from_another_origin_is_refused_with_403(
    standalone: Standalone,
) -> None:
    url = standalone.ws_url
    assert await upgrade_status(url, FOREIGN) == 403
    assert await upgrade_status(url, f"http://localhost:{standalone.port}") == 403
    assert await upgrade_status(url, standalone.base) == 101
    assert await upgrade_status(url, None) == 101
    assert await upgrade_status(url, LISTED) == 101


@pytest.mark.timeout(90)
async def test_the_pages_carry_a_csp_without_inline_script(standalone: Standalone) -> None:
    async with httpx.AsyncClient(base_url=standalone.base) as http:
        page = await http.get("/")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "style-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text
        assert "style=" not in page.text
        for asset in ("/ui/inbox.js", "/ui/inbox.css"):
            assert (await http.get(asset)).status_code == 200, asset
        docs = await http.get("/docs")
        assert "sha256-" in docs.headers["content-security-policy"]
        assert (await preflight(http, "/v1/auth/token", LISTED)).status_code == 200
        assert (await preflight(http, "/v1/auth/token", FOREIGN)).status_code == 400


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


OPEN_SOCKET = """url => new Promise(done => {
    const socket = new WebSocket(url);
    socket.onopen = () => { socket.close(); done("open"); };
    socket.onerror = () => done("refused");
})"""


async def open_from(browser: Browser, origin: str, ws_url: str) -> str:
    """Open `ws_url` from a page of `origin` (no CSP of ours there: only the server refuses)."""
    page = await browser.new_page()
    await page.goto(f"{origin}/")
    outcome: str = await page.evaluate(OPEN_SOCKET, ws_url)
    await page.close()
    return outcome


@pytest.mark.timeout(120)
async def test_a_page_from_another_origin_cannot_open_a_socket(
    browser: Browser, tmp_path: Path
) -> None:
    with page_server() as listed, page_server() as foreign:
        env = {"LIVEDESK_DEMO_PASSWORD": DEMO_PASSWORD, "LIVEDESK_ALLOWED_ORIGINS": listed}
        standalone = Standalone(tmp_path / "data", env=env)
        try:
            await standalone.ready()
            assert await open_from(browser, foreign, standalone.ws_url) == "refused"
            assert await open_from(browser, listed, standalone.ws_url) == "open"
        finally:
            standalone.stop()


@pytest.mark.timeout(120)
async def test_the_pages_render_offline_without_a_csp_violation(
    standalone: Standalone, browser: Browser
) -> None:
    page = await browser.new_page()
    console: list[str] = []
    missing: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("response", lambda answer: missing.append(answer.url) if answer.status >= 400 else None)
    # The page first asks whether its refresh cookie holds a session; without one that is 401.
    probe = f"{standalone.base}/v1/auth/refresh"
    await page.goto(standalone.base + "/")
    await page.fill("#email", demo.AGENT.email)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login button")
    await expect(page.locator("#status")).to_have_text("live")  # its script ran, socket open
    await page.goto(standalone.base + "/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Livedesk API")
    await page.goto(standalone.base + "/redoc")
    await expect(page.locator("h1")).to_contain_text("Livedesk API")
    # ReDoc's sidebar shows Redocly's logo from their CDN: blocked, as it should be.
    violations = [
        text
        for text in console
        if "Content Security Policy" in text and "https://cdn.redoc.ly/" not in text
    ]
    assert not violations
    assert [url for url in missing if url != probe] == []
