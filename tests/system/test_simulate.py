"""`livedesk simulate` against a real `livedesk standalone`: it plays for the time it was
given and what it did is there over REST (new conversations, customers' and agents'
messages); Ctrl-C stops it cleanly; a wrong password or a URL nobody answers ends it with
one line and a non-zero status, no traceback.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from livedesk.standalone import demo
from tests.support.api import bearer, livedesk_env
from tests.support.ports import free_port
from tests.system.test_standalone import DEMO_PASSWORD, Standalone, login

RATE_PER_MIN = "240"  # one action every 0.25 s on average: a few dozen in the test's seconds


def simulate(*args: str, password: str | None = DEMO_PASSWORD) -> subprocess.Popen[str]:
    env = {"LIVEDESK_DEMO_PASSWORD": password} if password else {}
    return subprocess.Popen(
        [sys.executable, "-m", "livedesk.cli.main", "simulate", *args],
        env=livedesk_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    process = Standalone(tmp_path_factory.mktemp("simulate") / "data")
    try:
        asyncio.run(process.ready())
        yield process
    finally:
        if process.process.poll() is None:
            process.stop()


async def _counts(base: str) -> tuple[int, int, set[str]]:
    """The demo account's conversations, its messages, and the kinds of those."""
    token = await login(base, demo.ADMIN.email)
    async with httpx.AsyncClient(base_url=base, headers=bearer(token)) as http:
        conversations = (await http.get("/v1/conversations", params={"limit": 200})).json()
        messages, kinds = 0, set()
        for conversation in conversations["items"]:
            path = f"/v1/conversations/{conversation['id']}/messages"
            page = (await http.get(path, params={"limit": 500})).json()["items"]
            messages += len(page)
            kinds |= {(m["kind"], m["sender_type"]) for m in page}
        return len(conversations["items"]), messages, {f"{k}/{s}" for k, s in kinds}


@pytest.mark.timeout(90)
async def test_it_plays_for_its_duration_and_the_writes_are_there(
    standalone: Standalone,
) -> None:
    before, messages_before, _ = await _counts(standalone.base)
    run = simulate(
        "--url", standalone.base, "--rate", RATE_PER_MIN, "--duration", "6", "--seed", "7"
    )
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("Ctrl-C stops"), out
    assert lines[-1].split(" ", 1)[1].startswith("stopped after"), out
    assert len(lines) > 10, out  # a line per action, at about four a second
    assert "writes in (#" in out, out
    after, messages_after, kinds = await _counts(standalone.base)
    assert after > before
    assert messages_after > messages_before
    assert {"incoming/contact", "outgoing/agent"} <= kinds


@pytest.mark.timeout(60)
async def test_ctrl_c_stops_it_cleanly(standalone: Standalone) -> None:
    run = simulate("--url", standalone.base, "--rate", RATE_PER_MIN)
    assert run.stdout is not None
    first = await asyncio.to_thread(run.stdout.readline)
    assert "playing the demo" in first
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=20)
    assert run.returncode == 0, err
    assert "stopped after" in out
    assert "Traceback" not in err


@pytest.mark.timeout(60)
def test_a_wrong_password_is_one_line_and_a_failure(standalone: Standalone) -> None:
    run = simulate("--url", standalone.base, "--duration", "5", password="not the password")
    out, err = run.communicate(timeout=30)
    assert run.returncode not in (0, None)
    assert err.count("\n") == 1, err
    assert err.startswith("livedesk simulate: "), err
    assert "password" in err, err
    assert "playing" not in out


@pytest.mark.timeout(60)
def test_an_unreachable_url_is_one_line_and_a_failure() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    run = simulate("--url", nobody, "--duration", "5")
    _, err = run.communicate(timeout=30)
    assert run.returncode not in (0, None)
    assert err.count("\n") == 1, err
    assert err.startswith(f"livedesk simulate: cannot reach {nobody}"), err


def test_no_password_is_a_usage_error() -> None:
    run = simulate("--url", "http://127.0.0.1:9", password=None)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 2
    assert "LIVEDESK_DEMO_PASSWORD" in err
