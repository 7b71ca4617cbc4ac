"""`livedesk standalone` as a real process: the README's first command, end to end.

One process on a loopback port with SQLite under a temporary data dir. It creates the demo
account on first start; an agent logs in over REST, opens a socket, sees the demo history
replayed from offset 0, a reply it posts arrives live with the next offset, and after a
restart the data is still there and a resumed socket gets only what it missed. The demo's
password is the tests' own (`LIVEDESK_DEMO_PASSWORD`), except where the random one is tested.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import venv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from livedesk.standalone import demo
from tests.support.api import bearer, livedesk_env
from tests.support.gateway import until
from tests.support.ports import free_port
from tests.support.ws_client import WsClient

START_TIMEOUT_S = 40.0
DEMO_PASSWORD = "the tests' demo password"
PRINTED_PASSWORD = re.compile(r"demo logins \(password: (\S+)\):")


class Standalone:
    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        data_dir_flag: bool = True,
    ) -> None:
        """`env`: settings (default: the tests' demo password); `data_dir_flag` false leaves
        the data dir to `LIVEDESK_DATA_DIR`, which the caller then puts in `env`."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        command = [sys.executable, "-m", "livedesk.cli.main", "standalone"]
        where = ["--data-dir", str(data_dir)] if data_dir_flag else []
        settings = {"LIVEDESK_DEMO_PASSWORD": DEMO_PASSWORD} if env is None else env
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *where],
            env=livedesk_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    async def ready(self) -> str:
        """Wait for the banner (printed once it serves) and a healthy answer; return it."""
        assert self.process.stdout is not None
        # Blocking reads are fine here: the process prints these lines within seconds, and
        # if it dies instead, readline returns "" at once.
        banner = "".join(self.process.stdout.readline() for _ in range(5))
        async with httpx.AsyncClient(base_url=self.base) as http:
            response = await http.get("/healthz")
            assert response.status_code == 200, banner
        return banner

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def standalone(data_dir: Path) -> Iterator[Standalone]:
    process = Standalone(data_dir)
    try:
        yield process
    finally:
        if process.process.poll() is None:
            process.stop()


async def login(base: str, email: str, password: str = DEMO_PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post("/v1/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@pytest.mark.timeout(120)
async def test_demo_account_socket_and_restart(standalone: Standalone, data_dir: Path) -> None:
    banner = await standalone.ready()
    assert f"http://127.0.0.1:{standalone.port}/" in banner
    assert "created a demo account" in banner
    assert demo.AGENT.email in banner
    assert f"password: {DEMO_PASSWORD})" in banner

    token = await login(standalone.base, demo.AGENT.email)
    async with httpx.AsyncClient(base_url=standalone.base, headers=bearer(token)) as http:
        page = (await http.get("/")).text
        assert "<title>Livedesk inbox</title>" in page
        conversations = (await http.get("/v1/conversations")).json()
        conversation = conversations["items"][0]
        loaded_at = conversations["offset"]
        assert loaded_at > len(demo.STATUSES)  # the demo's history, each write an event
        history = list(range(1, loaded_at + 1))

        client = await WsClient(standalone.ws_url).open()
        try:
            ready = await client.auth(token, resume_from=0)
            assert (ready["node"], ready["offset"]) == ("standalone", loaded_at)
            await until(lambda: client.offsets() == history)
            await client.send({"type": "subscribe", "conversation_id": conversation["id"]})
            await until(lambda: client.of_type("subscribed"))

            reply = {"content": "Let me check that for you.", "kind": "outgoing"}
            posted = await http.post(f"/v1/conversations/{conversation['id']}/messages", json=reply)
            assert posted.status_code == 201
            await until(lambda: client.offsets() == [*history, loaded_at + 1])
            live = next(f for f in client.frames if f.get("offset") == loaded_at + 1)
            assert live["type"] == "new_message"
            assert live["data"]["content"] == reply["content"]
        finally:
            await client.close()

    assert standalone.stop() == 0

    again = Standalone(data_dir)
    try:
        banner = await again.ready()
        assert "using the existing data" in banner
        token = await login(again.base, demo.AGENT.email)
        client = await WsClient(again.ws_url).open()
        try:
            await client.auth(token, resume_from=loaded_at)
            await until(lambda: client.offsets() == [loaded_at + 1])
        finally:
            await client.close()
    finally:
        again.stop()


@pytest.mark.timeout(90)
async def test_a_snoozed_conversation_wakes_up_live_over_the_socket(
    standalone: Standalone,
) -> None:
    await standalone.ready()
    token = await login(standalone.base, demo.AGENT.email)
    async with httpx.AsyncClient(base_url=standalone.base, headers=bearer(token)) as http:
        listed = (await http.get("/v1/conversations")).json()
        conversation, loaded_at = listed["items"][0], listed["offset"]
        client = await WsClient(standalone.ws_url).open()
        try:
            await client.auth(token, resume_from=loaded_at)
            until_time = datetime.now(UTC) + timedelta(seconds=1)
            snooze = {"status": "snoozed", "snoozed_until": until_time.isoformat()}
            answer = await http.patch(f"/v1/conversations/{conversation['id']}", json=snooze)
            assert answer.status_code == 200, answer.text
            await until(lambda: client.offsets() == [loaded_at + 1, loaded_at + 2])
            woken = next(f for f in client.frames if f.get("offset") == loaded_at + 2)
            assert woken["type"] == "conversation_updated"
            assert woken["data"]["by"] is None
            assert woken["data"]["conversation"]["status"] == "open"
        finally:
            await client.close()


@pytest.mark.timeout(90)
async def test_a_forged_token_is_refused_with_4401(standalone: Standalone) -> None:
    await standalone.ready()
    token = await login(standalone.base, demo.AGENT.email)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    client = await WsClient(standalone.ws_url).open()
    try:
        await client.send({"type": "auth", "token": forged})
        assert await client.wait_closed() == 4401
        assert not client.offsets()
    finally:
        await client.close()


README_OF_THE_CLIENT = Path(__file__).parents[2] / "clients" / "python" / "README.md"


def readme_example() -> str:
    """The README's Python example, as a user would paste it."""
    text = README_OF_THE_CLIENT.read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


async def printed(stdout: asyncio.StreamReader, kind: str) -> str:
    """The next line the example prints about an event of type `kind`."""
    async with asyncio.timeout(30):
        while line := (await stdout.readline()).decode():
            if f"'type': '{kind}'" in line:
                return line
    raise AssertionError(f"the example ended before printing {kind}")


async def run_readme_example(standalone: Standalone, python: str, env: dict[str, str]) -> None:
    """Run the client README's example with `python`; a reply posted over REST is printed."""
    await standalone.ready()
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) <= 10
    # The example names the default port; this standalone listens on a free one.
    script = example.replace("127.0.0.1:8000", f"127.0.0.1:{standalone.port}")
    # And the password it printed.
    script = script.replace('"the-password-it-printed"', repr(DEMO_PASSWORD))
    assert script != example
    assert DEMO_PASSWORD in script
    process = await asyncio.create_subprocess_exec(
        python, "-u", "-c", script, stdout=asyncio.subprocess.PIPE, env=env,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        token = await login(standalone.base, demo.ADMIN.email)
        async with httpx.AsyncClient(base_url=standalone.base, headers=bearer(token)) as http:
            conversation = (await http.get("/v1/conversations")).json()["items"][0]
            # The example prints presence_state first once its socket is live; a reply posted
            # before would race its connection (a live socket hears what follows `ready`).
            await printed(process.stdout, "presence_state")
            reply = {"content": "printed by the README's example", "kind": "outgoing"}
            posted = await http.post(f"/v1/conversations/{conversation['id']}/messages", json=reply)
            assert posted.status_code == 201
            line = await printed(process.stdout, "new_message")
        assert reply["content"] in line
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.timeout(90)
async def test_the_client_readme_example_prints_a_reply_posted_to_standalone(
    standalone: Standalone,
) -> None:
    await run_readme_example(standalone, sys.executable, livedesk_env({}))


@pytest.mark.timeout(300)
async def test_pip_install_of_the_client_from_the_checkout_runs_the_readme_example(
    standalone: Standalone, tmp_path: Path
) -> None:
    # What the README tells a user: a fresh environment, `pip install ./clients/python` (from
    # the package registry: the build backend and the client's two dependencies), nothing else.
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    python = str(tmp_path / "venv" / "bin" / "python")
    env = {k: v for k, v in livedesk_env({}).items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = await asyncio.create_subprocess_exec(
        python, "-m", "pip", "install", "--quiet", str(README_OF_THE_CLIENT.parent), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await install.communicate()
    assert install.returncode == 0, output.decode()
    await run_readme_example(standalone, python, env)
