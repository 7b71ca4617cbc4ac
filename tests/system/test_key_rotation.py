"""Key rotation in the real topology: an API with two workers, presence and two gateways that
fetch the API's JWKS, and `livedesk keys` run as an operator would, beside them.

Rotation needs no restart: the API signs with the new key and both workers accept it, the
gateways accept it on sockets (a third gateway, which refreshes only every 5 minutes, learns
it from the token's unknown kid); tokens of the old key keep working (REST, new sockets, a
socket open across the rotation) until the old key is retired; then they are refused.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
import jwt
import pytest

from livedesk.shared.lifecycle import EXIT_UNAVAILABLE
from tests.support.api import bearer, livedesk, livedesk_env, login
from tests.support.gateway import until
from tests.support.ports import free_port
from tests.support.processes import Livedesk
from tests.system.test_gateway_system import (
    PASSWORD,
    Service,
    Stack,
    Tenant,
    client,
    running_stack,
)

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]

FIRST_KID = "livedesk-1"  # the key a fresh data dir starts with


@pytest.fixture
def stack(amqp_url: str, postgres_url: str, tmp_path: Path) -> Iterator[Stack]:
    quick = {
        "LIVEDESK_TOKENS__KEY_CHECK_INTERVAL_S": "0.2",
        "LIVEDESK_TOKENS__JWKS_REFRESH_S": "1",
        "LIVEDESK_TOKENS__JWKS_MIN_INTERVAL_S": "0.5",
    }
    with running_stack(
        amqp_url, postgres_url, tmp_path, extra_env=quick, api_args=("--workers", "2")
    ) as running:
        yield running


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def rest_answers(stack: Stack, token: str) -> set[tuple[int, str | None]]:
    """Status and error code of REST reads with `token`: several, so that both workers
    answer (the kernel spreads connections over them); one answer when they agree."""
    answers = set()
    for _ in range(8):
        async with httpx.AsyncClient(base_url=stack.api.url) as http:
            response = await http.get("/v1/conversations", headers=bearer(token))
        answers.add((response.status_code, response.json().get("code")))
    return answers


async def socket_answer(url: str, token: str) -> str:
    """`ready`, or the error code a socket authenticating with `token` is closed with."""
    async with client(url) as ws:
        await ws.send({"type": "auth", "token": token, "ref": "a"})
        await until(lambda: ws.of_type("ready") or ws.of_type("error"))
        if ws.of_type("ready"):
            return "ready"
        assert await ws.wait_closed() == 4401
        return str(ws.of_type("error")[0]["code"])


async def eventually(probe: Callable[[], Awaitable[object]], expected: object) -> None:
    """Until `probe()` answers `expected`: the services look at keys again every second or
    so (bounded: a hang is a failure, not a timing claim)."""
    async with asyncio.timeout(15):
        while (answer := await probe()) != expected:  # noqa: ASYNC110 - nothing to wait on
            await asyncio.sleep(0.1)
    assert answer == expected


async def signed_with(stack: Stack, email: str, kid: str) -> str:
    """A login's token once the API signs with `kid`."""
    async with httpx.AsyncClient(base_url=stack.api.url) as http:
        async with asyncio.timeout(15):
            while kid_of(token := await login(http, email, PASSWORD)) != kid:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    return token


@contextmanager
def gateway_refreshing_rarely(stack: Stack) -> Iterator[Service]:
    """A gateway that reads the keys on its own only every 5 minutes: it can learn a new
    key within the test only by fetching on the unknown kid."""
    env = {**stack.env, "LIVEDESK_TOKENS__JWKS_REFRESH_S": "300"}
    gateway = Service(["gateway", "--node-id", f"gw-keys-{secrets.token_hex(3)}"], env, free_port())
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


async def test_rotate_then_retire_without_restarting_anything(stack: Stack) -> None:
    tenant = await stack.tenant()
    old = tenant.token
    assert kid_of(old) == FIRST_KID
    with gateway_refreshing_rarely(stack) as rare:
        await rotate_then_retire(stack, tenant, rare)


async def rotate_then_retire(stack: Stack, tenant: Tenant, rare: Service) -> None:
    old = tenant.token
    async with client(stack.gateways[0].ws) as across:
        await across.auth(old)

        rotated = livedesk("keys", "rotate", env=stack.env)
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.strip()
        new = await signed_with(stack, tenant.email, new_kid)

        # The new key: both API workers and all gateways accept it, none restarted.
        assert await socket_answer(rare.ws, new) == "ready"  # first: fetched on its kid
        assert await rest_answers(stack, new) == {(200, None)}
        for gateway in stack.gateways:
            assert await socket_answer(gateway.ws, new) == "ready"
        async with httpx.AsyncClient(base_url=stack.api.url) as http:
            published = (await http.get("/.well-known/jwks.json")).json()
        assert {key["kid"] for key in published["keys"]} == {FIRST_KID, new_kid}

        # The old key still verifies until it is retired, on a socket open all along too.
        assert await rest_answers(stack, old) == {(200, None)}
        for gateway in stack.gateways:
            assert await socket_answer(gateway.ws, old) == "ready"
        async with httpx.AsyncClient() as http:
            await tenant.post(http)
        await until(lambda: across.offsets() == [2])

        retired = livedesk("keys", "retire", FIRST_KID, env=stack.env)
        assert retired.returncode == 0, retired.stderr
        await eventually(lambda: rest_answers(stack, old), {(401, "token_invalid")})
        for gateway in stack.gateways:
            await eventually(partial(socket_answer, gateway.ws, old), "token_invalid")
        assert await rest_answers(stack, new) == {(200, None)}
        assert await socket_answer(stack.gateways[1].ws, new) == "ready"


@pytest.mark.parametrize("broken", ["current names a missing key", "private key file missing"])
def test_signing_keys_that_cannot_be_read_end_the_api_with_one_line(
    broken: str, tmp_path: Path
) -> None:
    env = livedesk_env({"LIVEDESK_DATA_DIR": str(tmp_path)})
    if broken == "current names a missing key":
        (tmp_path / "keys").mkdir()
        (tmp_path / "keys" / "current").write_text("gone\n")
        reason = f"{tmp_path / 'keys' / 'current'} names 'gone', which has no key file"
    else:
        env["LIVEDESK_TOKENS__PRIVATE_KEY_PATH"] = str(tmp_path / "none.pem")
        reason = f"[Errno 2] No such file or directory: '{tmp_path / 'none.pem'}'"
    # Standalone: the API's start on SQLite, nothing else to reach first.
    args = ("standalone", "--port", str(free_port()), "--data-dir", str(tmp_path))
    with Livedesk(*args, env=env) as process:
        assert process.wait(30) == EXIT_UNAVAILABLE, process.stderr()
        line = f"livedesk standalone: cannot use the token signing keys: {reason}"
        assert process.last_line() == line, process.stderr()
        assert "Traceback" not in process.stderr(), process.stderr()
