"""livedesk-client and `livedesk tail` on the real topology: api, presence and two gateways as
processes, RabbitMQ and PostgreSQL, messages posted over REST.

A client whose gateway is SIGKILLed mid-stream resumes on the other with every offset once;
`livedesk tail` prints events as JSON lines, stops with 0 on SIGTERM, and refuses with one
line a token of another account.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from livedesk_client import Client, Frame, State
from tests.support.gateway import until
from tests.system.test_gateway_system import Stack, Tenant, running_stack

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]


@pytest.fixture(scope="module")
def stack(
    amqp_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(amqp_url, postgres_url, Path(tmp_path_factory.mktemp("stack"))) as running:
        yield running


async def test_a_client_whose_gateway_is_killed_resumes_on_the_other_with_every_offset_once(
    stack: Stack,
) -> None:
    tenant = await stack.tenant()
    offsets: list[int] = []
    nodes: list[str] = []
    states: list[State] = []
    client = Client([g.ws for g in stack.gateways], lambda: tenant.token,
                    on_state=lambda state, _: states.append(state))  # fmt: skip
    client.on("*", lambda event: offsets.extend([event["offset"]] if "offset" in event else []))
    client.on("ready", lambda frame: nodes.append(frame["node"]))
    async with client, httpx.AsyncClient(timeout=30) as http:
        await until(lambda: client.state is State.OPEN, timeout_s=20)
        victim = next(g for g in stack.gateways if g.ws == client.url)
        try:
            for number in range(60):
                await tenant.post(http)
                if number == 20:
                    victim.kill()
                await asyncio.sleep(0.01)
            await until(lambda: len(offsets) >= tenant.posted - 1, timeout_s=40)
        finally:
            if victim.ws != client.url:
                victim.start()  # the module's other tests want two gateways
    assert offsets == list(range(2, tenant.posted + 1))  # new_conversation (1) came before
    assert len(nodes) == 2
    assert nodes[0] != nodes[1]
    assert State.RECONNECTING in states


@asynccontextmanager
async def tailing(stack: Stack, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    urls = [arg for gateway in stack.gateways for arg in ("--url", gateway.ws)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livedesk.cli.main", "tail", *urls, *args,
        env=stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def persistent_lines(process: asyncio.subprocess.Process, count: int) -> list[Frame]:
    """The next `count` events with an offset tail prints (ephemeral ones are passed over)."""
    assert process.stdout is not None
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(lines) < count:
            line = await process.stdout.readline()
            assert line, "tail ended before printing what was expected"
            if "offset" in (event := json.loads(line)):
                lines.append(event)
    return lines


def tail_args(tenant: Tenant, *more: str) -> list[str]:
    return ["--account", str(tenant.account_id), "--token", tenant.token, *more]


async def test_tail_prints_each_event_as_a_json_line_and_stops_with_0_on_sigterm(
    stack: Stack,
) -> None:
    tenant = await stack.tenant()
    async with tailing(stack, *tail_args(tenant, "--from", "0")) as tail:
        first = await persistent_lines(tail, 1)  # replayed from offset 0: the new_conversation
        async with httpx.AsyncClient() as http:
            for _ in range(3):
                await tenant.post(http, content="from tail")
        lines = first + await persistent_lines(tail, 3)
        tail.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(tail.wait(), 20) == 0
    assert [line["offset"] for line in lines] == [1, 2, 3, 4]
    assert [line["type"] for line in lines] == ["new_conversation"] + ["new_message"] * 3
    assert {line["data"]["content"] for line in lines[1:]} == {"from tail"}


async def test_tail_with_a_token_of_another_account_exits_1_with_one_line(stack: Stack) -> None:
    tenant = await stack.tenant()
    other = tenant.account_id + 1
    async with tailing(stack, "--account", str(other), "--token", tenant.token) as tail:
        assert await asyncio.wait_for(tail.wait(), 30) == 1
        assert tail.stdout is not None
        assert tail.stderr is not None
        assert await tail.stdout.read() == b""
        err = (await tail.stderr.read()).decode().splitlines()
    assert err[-1] == f"livedesk tail: the token is for account {tenant.account_id}, not {other}"


async def test_tail_with_a_forged_token_exits_1_saying_it_was_refused(stack: Stack) -> None:
    tenant = await stack.tenant()
    async with tailing(stack, "--account", str(tenant.account_id), "--token", "a.b.c") as tail:
        assert await asyncio.wait_for(tail.wait(), 30) == 1
        assert tail.stderr is not None
        err = (await tail.stderr.read()).decode().splitlines()
    assert err[-1].startswith("livedesk tail: the gateway refused the token (not authenticated")
