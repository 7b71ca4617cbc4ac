"""`livedesk dev` as a user runs it: a real process that provisions its own database, starts
api, presence and two gateways behind its proxy, restarts a gateway that dies, and leaves no
process behind on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from livedesk.standalone import demo
from tests.support.api import livedesk_env
from tests.support.browser import chromium
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(180)
SOCKETS = 200
READY = re.compile(r"inbox (http://\S+)\s+sign in as (\S+), password (\S+)")


class DevStack:
    def __init__(
        self, amqp_url: str, database_url: str, data_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        while any(_taken(self.port + n) for n in range(1, 5)):
            self.port = free_port()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livedesk.cli.main", "dev", "--port", str(self.port),
             "--amqp-url", amqp_url, "--database-url", database_url, "--data-dir", str(data_dir)],
            env={**livedesk_env(env or {}), "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )  # fmt: skip

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float = 90) -> re.Match[str]:
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                assert self.process.poll() is None, "livedesk dev exited:\n" + "".join(self.lines)
                time.sleep(0.05)
                continue
            self.lines.append(line)
            if found := pattern.search(line):
                return found
        raise AssertionError(f"no {pattern.pattern!r} in:\n" + "".join(self.lines[-40:]))

    def children(self) -> list[int]:
        tasks = Path(f"/proc/{self.process.pid}/task")
        return [int(pid) for t in tasks.iterdir() for pid in (t / "children").read_text().split()]


def _taken(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


@pytest.fixture
def fresh_database_url(postgres_url: str) -> Iterator[str]:
    """A database name nobody made: `livedesk dev` must make it (it is dropped after)."""
    name = f"livedesk_dev_t_{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_url).set(drivername="postgresql", database=name)
    yield url.render_as_string(hide_password=False)
    subprocess.run(
        ["psql", "-h", url.host or "127.0.0.1", "-U", url.username or "postgres", "-d", "postgres",
         "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=False, capture_output=True,
    )  # fmt: skip


async def _socket(base: str, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(base.replace("http", "ws") + "/ws", origin=Origin(base))
    await ws.send(json.dumps({"type": "auth", "token": token}))
    return ws, json.loads(await ws.recv())


async def _next_message(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == "new_message":
            return frame


def test_dev_serves_the_topology_behind_one_port_and_stops_clean(
    amqp_url: str, fresh_database_url: str, tmp_path: Path
) -> None:
    stack = DevStack(amqp_url, fresh_database_url, tmp_path / "dev")
    try:
        url, email, password = stack.wait_for(READY).groups()
        base = url.rstrip("/")
        children = stack.children()
        assert len(children) == 4  # api, presence, two gateways

        async def through_the_proxy() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                page = await http.get("/")
                assert page.status_code == 200
                assert "content-security-policy" in page.headers
                login = {"email": email, "password": password}
                token = (await http.post("/v1/auth/token", json=login)).json()["access_token"]
                auth = {"authorization": f"Bearer {token}"}
                assert (await http.get("/v1/presence", headers=auth)).status_code == 200
                first, ready_1 = await _socket(base, token)
                second, ready_2 = await _socket(base, token)
                assert {ready_1["node"], ready_2["node"]} == {"dev-1", "dev-2"}
                conversation = (await http.get("/v1/conversations", headers=auth)).json()["items"][
                    0
                ]
                posted = await http.post(
                    f"/v1/conversations/{conversation['id']}/messages",
                    json={"content": "through the proxy", "kind": "outgoing"},
                    headers=auth,
                )
                assert posted.status_code == 201, posted.text
                for ws in (first, second):
                    assert (await _next_message(ws))["data"]["content"] == "through the proxy"
                    await ws.close()

        asyncio.run(through_the_proxy())

        gateway = next(
            pid for pid in children if "gateway" in Path(f"/proc/{pid}/cmdline").read_text()
        )
        os.kill(gateway, signal.SIGKILL)
        stack.wait_for(re.compile(r"gateway-\d exited with -9: restarting it"), timeout_s=20)
        deadline = time.monotonic() + 60
        while not all(_ready(stack.port + n) for n in (3, 4)):
            assert time.monotonic() < deadline, "the gateway did not come back"
            time.sleep(0.2)

        running = stack.children()
        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(timeout=60) == 0
        assert [pid for pid in running if _alive(pid)] == []
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()
        if stack.process.stdout is not None:
            stack.process.stdout.close()


class Follower:
    """One socket through the proxy that resumes from the last offset it saw whenever it is
    closed or told to reconnect, and keeps every offset it receives, duplicates included."""

    def __init__(self, base: str, token: str) -> None:
        self._base, self._token = base, token
        self.start: int | None = None
        self.offsets: list[int] = []
        self.reconnects = 0
        self.stopping = False

    @property
    def last(self) -> int | None:
        return self.offsets[-1] if self.offsets else self.start

    async def follow(self) -> None:
        while not self.stopping:
            try:
                ws = await connect(
                    self._base.replace("http", "ws") + "/ws", origin=Origin(self._base)
                )
            except (OSError, InvalidStatus):
                await asyncio.sleep(0.2)
                continue
            async with ws:
                auth: dict[str, Any] = {"type": "auth", "token": self._token}
                if self.last is not None:
                    auth["resume_from"] = self.last
                await ws.send(json.dumps(auth))
                with contextlib.suppress(ConnectionClosed):
                    async for text in ws:
                        frame = json.loads(text)
                        if frame["type"] == "ready" and self.start is None:
                            self.start = frame["offset"]
                        elif "offset" in frame and frame["type"] != "ready":
                            self.offsets.append(frame["offset"])
                        elif frame["type"] == "reconnect":
                            break
            self.reconnects += 1


async def _latest_offset(http: httpx.AsyncClient, auth: dict[str, str]) -> int:
    answer = await http.get("/v1/events", params={"after": 0, "limit": 1}, headers=auth)
    latest: int = answer.json()["latest_offset"]
    return latest


@pytest.mark.slow
def test_a_rolling_restart_of_the_gateways_loses_and_doubles_nothing(
    amqp_url: str, fresh_database_url: str, tmp_path: Path
) -> None:
    many = {"LIVEDESK_GATEWAY__MAX_SOCKETS_PER_USER": "1000"}
    stack = DevStack(amqp_url, fresh_database_url, tmp_path / "dev", env=many)
    try:
        url, email, password = stack.wait_for(READY).groups()
        base = url.rstrip("/")

        async def roll_under_load() -> list[Follower]:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                login = {"email": email, "password": password}
                token = (await http.post("/v1/auth/token", json=login)).json()["access_token"]
                auth = {"authorization": f"Bearer {token}"}
                conversation = (await http.get("/v1/conversations", headers=auth)).json()["items"][
                    0
                ]
                followers = [Follower(base, token) for _ in range(SOCKETS)]
                tasks = [asyncio.create_task(f.follow()) for f in followers]
                async with asyncio.timeout(60):
                    while any(f.start is None for f in followers):  # noqa: ASYNC110  (sockets' state)
                        await asyncio.sleep(0.1)
                writing = True

                async def write() -> None:
                    n = 0
                    while writing:
                        n += 1
                        body = {"content": f"m{n}", "kind": "outgoing", "client_id": f"roll-{n}"}
                        path = f"/v1/conversations/{conversation['id']}/messages"
                        # A 5xx is retried with its client_id: written once all the same.
                        for _ in range(50):
                            if (await http.post(path, json=body, headers=auth)).status_code < 500:
                                break
                            await asyncio.sleep(0.1)
                        await asyncio.sleep(0.05)

                writer = asyncio.create_task(write())
                await asyncio.sleep(1)
                stack.process.send_signal(signal.SIGHUP)
                await asyncio.to_thread(stack.wait_for, re.compile("gateways rolled"), 120)
                await asyncio.sleep(1)
                writing = False
                await writer
                latest = await _latest_offset(http, auth)
                async with asyncio.timeout(60):
                    while any(f.last != latest for f in followers):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                for follower in followers:
                    follower.stopping = True
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                return followers

        followers = asyncio.run(roll_under_load())
        for follower in followers:
            assert follower.start is not None
            assert follower.offsets == list(range(follower.start + 1, follower.offsets[-1] + 1))
        # Every socket moved at least once: those on the first gateway moved twice.
        assert all(f.reconnects >= 1 for f in followers)
        assert sum(f.reconnects >= 2 for f in followers) >= SOCKETS // 4
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()
        if stack.process.stdout is not None:
            stack.process.stdout.close()


@pytest.mark.timeout(180)
def test_the_inbox_works_through_the_proxy_in_a_browser(
    amqp_url: str, fresh_database_url: str, tmp_path: Path
) -> None:
    """Two agents in Chromium through `livedesk dev`'s proxy, their sockets on the two
    gateways (round-robin): a reply and typing cross from one gateway to the other."""
    stack = DevStack(amqp_url, fresh_database_url, tmp_path / "dev")
    try:
        url, _, password = stack.wait_for(READY).groups()

        async def two_agents() -> None:
            async with chromium() as browser:
                pages = []
                for email in (demo.ADMIN.email, demo.AGENT.email):
                    page = await (await browser.new_context()).new_page()
                    await page.goto(url)
                    await page.fill("#email", email)
                    await page.fill("#password", password)
                    await page.click("#login button")
                    await expect(page.locator("#status")).to_have_text("live")
                    await page.click(".conv")
                    pages.append(page)
                admin, agent = pages
                await agent.fill("#text", "Checking")
                await agent.press("#text", "Space")  # an input event: typing starts
                await expect(admin.locator("#typing")).to_have_text(f"{demo.AGENT.name} is typing…")
                await agent.fill("#text", "Your parcel left the depot this morning.")
                await agent.click("#compose button")
                reply = admin.locator(".msg", has_text="Your parcel left the depot")
                await expect(reply).to_be_visible()
                await expect(admin.locator("#typing")).to_have_text("")

        asyncio.run(two_agents())
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()
        if stack.process.stdout is not None:
            stack.process.stdout.close()
