"""The client's connection loop against scripted WebSocket servers on loopback: each test's
server says what a gateway would (ready, events, a drain hint, a close code, silence) and
checks what the client does next. The real gateways are in tests/system/test_client_system.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from livedesk_client import Backoff, Client, Frame, Refused, State
from tests.support.gateway import until

Script = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


@asynccontextmanager
async def server(script: Script) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A server running `script` with each socket's `auth` frame; yields its URL and the auths."""
    auths: list[dict[str, Any]] = []

    async def handle(ws: ServerConnection) -> None:
        auth = json.loads(await ws.recv())
        auths.append(auth)
        await script(ws, auth)

    async with serve(handle, "127.0.0.1", 0) as running:
        port = running.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws", auths


def ready(offset: int) -> str:
    return json.dumps(
        {"type": "ready", "node": "n", "account_id": 7, "user_id": 1, "offset": offset}
    )


def event(offset: int) -> str:
    frame = {"type": "new_message", "offset": offset, "account_id": 7, "conversation_id": 1}
    return json.dumps({**frame, "ts": "2026-01-01T00:00:00Z", "data": {}})


def fast() -> Backoff:
    return Backoff(base_s=0.01, cap_s=0.05)


async def until_closed(ws: ServerConnection) -> None:
    async for _ in ws:
        pass


async def test_a_drain_hint_moves_to_the_next_url_and_resumes_with_no_duplicate() -> None:
    async def draining(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.send(ready(0))
        for offset in (1, 2, 3):
            await ws.send(event(offset))
        await ws.send(json.dumps({"type": "reconnect", "message": "draining"}))
        await until_closed(ws)

    async def other(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.send(ready(4))
        for offset in range(auth["resume_from"] - 1, 6):  # overlaps what was delivered
            await ws.send(event(offset))
        await until_closed(ws)

    seen: list[Frame] = []
    states: list[State] = []
    async with server(draining) as (first, first_auths), server(other) as (second, auths):
        client = Client([first, second], lambda: "token", backoff=fast(),
                        on_state=lambda state, _: states.append(state))  # fmt: skip
        client.on("new_message", seen.append)
        subscribed: list[int] = []
        async with client:
            await client.subscribe(42)
            await until(lambda: len(seen) == 5)
            assert client.url == second
            subscribed.append(client.duplicates)
    assert [frame["offset"] for frame in seen] == [1, 2, 3, 4, 5]
    assert first_auths == [{"type": "auth", "token": "token"}]
    assert auths == [{"type": "auth", "token": "token", "resume_from": 3}]
    assert subscribed == [2]  # offsets 2 and 3 came again and were dropped
    assert states[:4] == [State.CONNECTING, State.OPEN, State.RECONNECTING, State.CONNECTING]
    assert states[-1] is State.OFFLINE


async def test_subscriptions_are_sent_again_after_a_reconnection() -> None:
    received: list[dict[str, Any]] = []

    async def flaky(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.send(ready(0))
        async for raw in ws:
            received.append(json.loads(raw))
            if len(received) == 1:
                await ws.close(1011, "internal error")

    async with server(flaky) as (url, auths), Client(url, lambda: "t", backoff=fast()) as client:
        await until(lambda: client.state is State.OPEN)
        await client.subscribe(9)
        await until(lambda: len(received) == 2)
    assert received == [{"type": "subscribe", "conversation_id": 9}] * 2
    assert len(auths) == 2


async def test_an_expired_token_asks_the_provider_again() -> None:
    async def expiring(ws: ServerConnection, auth: dict[str, Any]) -> None:
        if auth["token"] == "old":
            await ws.close(4401, "token_expired")
            return
        await ws.send(ready(0))
        await until_closed(ws)

    tokens = iter(["old", "new"])

    async def provide() -> str:
        return next(tokens)

    async with server(expiring) as (url, auths), Client(url, provide, backoff=fast()) as client:
        await until(lambda: client.state is State.OPEN)
    assert [auth["token"] for auth in auths] == ["old", "new"]


async def test_an_invalid_token_stops_the_client_with_the_reason() -> None:
    async def refusing(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.close(4401, "token_invalid")

    async with server(refusing) as (url, auths):
        client = Client(url, lambda: "forged", backoff=fast())
        client.start()
        with pytest.raises(Refused, match="token_invalid"):
            await asyncio.wait_for(client.wait_closed(), 10)
        assert client.state is State.OFFLINE
    assert len(auths) == 1


async def test_a_socket_silent_past_the_pong_deadline_is_dropped_and_replaced() -> None:
    async def silent(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.send(ready(0))
        await ws.wait_closed()  # reads nothing, answers no ping

    async with server(silent) as (url, auths):
        client = Client(url, lambda: "t", backoff=fast(), ping_interval_s=0.1, pong_timeout_s=0.2)
        async with client:
            await until(lambda: len(auths) == 2)


def jwt(expires_at: float) -> str:
    claims = json.dumps({"sub": "1", "exp": int(expires_at)}).encode()
    return "eyJhbGciOiJFZERTQSJ9." + base64.urlsafe_b64encode(claims).decode().rstrip("=") + ".c2ln"


async def test_a_token_is_renewed_on_the_live_socket_before_it_expires() -> None:
    frames_after_ready: list[dict[str, Any]] = []

    async def renewing(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.send(ready(0))
        async for raw in ws:
            frames_after_ready.append(json.loads(raw))
            await ws.send(json.dumps({"type": "auth_renewed", "expires_at": 0}))

    short, long = jwt(time.time() + 2), jwt(time.time() + 3600)  # renewed at half its life
    tokens = iter([short, long])
    renewed: list[Frame] = []
    async with server(renewing) as (url, auths):
        client = Client(url, lambda: next(tokens), backoff=fast())
        client.on("auth_renewed", renewed.append)
        async with client:
            await until(lambda: renewed, timeout_s=10)
    assert [auth["token"] for auth in auths] == [short]  # one socket all along
    assert frames_after_ready == [{"type": "auth", "token": long}]


async def test_a_handler_may_close_the_client() -> None:
    async def serving(ws: ServerConnection, auth: dict[str, Any]) -> None:
        await ws.send(ready(0))
        await until_closed(ws)

    async with server(serving) as (url, _):
        client = Client(url, lambda: "t", backoff=fast())

        async def close_on_ready(frame: Frame) -> None:
            await client.close()

        client.on("ready", close_on_ready)
        client.start()
        await asyncio.wait_for(client.wait_closed(), 10)
    assert client.state is State.OFFLINE
