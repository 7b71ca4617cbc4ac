"""The presence service in one process on the memory bus: consumer, ticker, HTTP, keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from livedesk.presence.decoding import FAST_PATH_BYTES, Snapshot, decode
from livedesk.presence.keys import Keys
from livedesk.presence.main import serve
from livedesk.presence.service import PresenceService
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Message, Subscription
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.errors import BusError, EventError
from livedesk.shared.events import AgentStatusChanged, Typing
from livedesk.shared.events import decode as decode_event
from livedesk.shared.lifecycle import Unavailable, bind
from livedesk.shared.presence_messages import (
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    PresenceMessage,
    SocketRef,
    TypingSignal,
    decode_message,
    encode_message,
)
from livedesk.shared.settings import ApiSettings, GatewaySettings, PresenceSettings, Settings
from livedesk.shared.tokens import Role, TokenSigner, TokenVerifier, jwks
from livedesk.shared.topology import QueueSpec
from tests.support.ports import free_port

ISSUER = "livedesk"
ACCOUNT = 3


def now() -> datetime:
    return datetime.now(UTC)


def settings() -> Settings:
    return Settings(
        presence=PresenceSettings(
            typing_ttl_s=0.3, offline_grace_s=0.2, tick_interval_s=0.02, warmup_heartbeats=1.0
        ),
        gateway=GatewaySettings(heartbeat_interval_s=0.1),
    )


@dataclass
class Harness:
    bus: MemoryBus
    service: PresenceService
    events: Subscription
    signer: TokenSigner

    async def send(self, message: PresenceMessage) -> None:
        await self.send_raw(routing.node_key(message), encode_message(message))

    async def send_raw(self, key: str, body: bytes) -> None:
        await self.bus.publish(Message(topology.PRESENCE_IN, key, body))

    async def next_event(self) -> AgentStatusChanged | Typing:
        async with asyncio.timeout(5):
            delivery = await anext(self.events)
        event = decode_event(delivery.body)
        assert isinstance(event, AgentStatusChanged | Typing)
        return event

    def token(self, account: int = ACCOUNT, user: int = 1) -> str:
        return self.signer.issue(user_id=user, account_id=account, role=Role.AGENT)


def ref(socket: str, user: int, account: int = ACCOUNT) -> SocketRef:
    return SocketRef(socket_id=socket, account_id=account, user_id=user)


@asynccontextmanager
async def running(config: Settings | None = None) -> AsyncIterator[Harness]:
    bus = MemoryBus()
    key = Ed25519PrivateKey.generate()
    signer = TokenSigner(key, issuer=ISSUER, ttl_s=60)
    service = PresenceService(
        config or settings(), bus, verifier=TokenVerifier(key.public_key(), issuer=ISSUER)
    )
    spec = QueueSpec("test.events", False, True, True, bindings=((topology.EPHEMERAL, "#"),))
    async with bus.subscribe(spec) as events:
        task = asyncio.create_task(service.run())
        try:
            await until(lambda: service.consumer.subscribed)
            yield Harness(bus, service, events, signer)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - state changes have no event to wait on
            await asyncio.sleep(0.01)


async def test_events_are_published_on_the_ephemeral_exchange_by_account() -> None:
    async with running() as h:
        await h.send(ConnectionOpened(node="gw-1", sent_at=now(), socket=ref("s1", 1)))
        online = await h.next_event()
        assert online == AgentStatusChanged(account_id=ACCOUNT, user_id=1, status="online")
        signal = TypingSignal(
            node="gw-1", sent_at=now(), socket=ref("s1", 1), conversation_id=9, state="start"
        )
        await h.send(signal)
        assert await h.next_event() == Typing(
            account_id=ACCOUNT, conversation_id=9, user_id=1, state="start"
        )
        # The ticker ends it at its TTL, with no stop from the client.
        assert await h.next_event() == Typing(
            account_id=ACCOUNT, conversation_id=9, user_id=1, state="stop"
        )
        await h.send(ConnectionClosed(node="gw-1", sent_at=now(), socket=ref("s1", 1)))
        assert (await h.next_event()).model_dump()["status"] == "offline"


async def test_bad_input_is_counted_and_dropped_and_the_service_keeps_going() -> None:
    async with running() as h:
        beat = NodeHeartbeat(
            node="gw-1", sent_at=now(), seq=5, epoch="e", interval_s=0.1, sockets=()
        )
        await h.send(beat)
        await h.send_raw("node.gw-1.junk", b"{not json")
        await h.send_raw("node.gw-1.junk", b'{"type": "connection_opened"}')
        await h.send(beat.model_copy(update={"seq": 4}))  # stale
        await until(lambda: not h.service.state.warming)
        await h.send(ConnectionClosed(node="gw-9", sent_at=now(), socket=ref("s1", 1)))
        await h.send(ConnectionOpened(node="gw-1", sent_at=now(), socket=ref("s2", 2)))
        assert (await h.next_event()).model_dump()["user_id"] == 2  # still consuming
        assert h.service.state.stats.dropped == {
            "malformed": 2,
            "stale_heartbeat": 1,
            "unknown_node": 1,
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=h.service.app), base_url="http://presence"
        ) as client:
            metrics = (await client.get("/metrics")).text
        assert 'presence_dropped_total{reason="malformed"} 2.0' in metrics
        assert "presence_active_consumer 1.0" in metrics


async def test_http_api_answers_the_callers_account_only() -> None:
    async with running() as h:
        await h.send(ConnectionOpened(node="gw-1", sent_at=now(), socket=ref("s1", 1)))
        await h.send(ConnectionOpened(node="gw-1", sent_at=now(), socket=ref("s2", 2, 99)))
        signal = TypingSignal(
            node="gw-1", sent_at=now(), socket=ref("s1", 1), conversation_id=9, state="start"
        )
        await h.send(signal)
        await until(lambda: h.service.state.typing_count == 1)
        transport = httpx.ASGITransport(app=h.service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://presence") as client:
            mine = await client.get("/v1/presence", headers=bearer(h.token()))
            assert mine.status_code == 200
            assert mine.json() == {
                "account_id": ACCOUNT,
                "agents": {"1": "online"},
                "typing": {"9": [1]},
            }
            theirs = await client.get("/v1/presence", headers=bearer(h.token(account=99)))
            assert theirs.json() == {"account_id": 99, "agents": {"2": "online"}, "typing": {}}
            typers = await client.get(
                "/v1/presence/conversations/9/typing", headers=bearer(h.token(account=99))
            )
            assert typers.json() == {"conversation_id": 9, "typing": []}
            typers = await client.get(
                "/v1/presence/conversations/9/typing", headers=bearer(h.token())
            )
            assert typers.json() == {"conversation_id": 9, "typing": [1]}

            missing = await client.get("/v1/presence")
            assert missing.status_code == 401
            assert missing.json()["code"] == "not_authenticated"
            forged = await client.get(
                "/v1/presence",
                headers=bearer(
                    other_signer().issue(user_id=1, account_id=ACCOUNT, role=Role.AGENT)
                ),
            )
            assert (forged.status_code, forged.json()["code"]) == (401, "token_invalid")
            expired = h.signer.issue(user_id=1, account_id=ACCOUNT, role=Role.AGENT, now=0)
            response = await client.get("/v1/presence", headers=bearer(expired))
            assert (response.status_code, response.json()["code"]) == (401, "token_expired")
            bad_id = await client.get(
                "/v1/presence/conversations/0/typing", headers=bearer(h.token())
            )
            assert bad_id.status_code == 422
            await until(lambda: h.service.state.built)
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["active"] is True
            assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_a_replica_is_ready_only_once_its_state_is_built() -> None:
    # A heartbeat round of 0.5 s: long enough to see the replica consuming and not yet ready.
    slow = Settings(
        presence=PresenceSettings(tick_interval_s=0.02, warmup_heartbeats=1.0),
        gateway=GatewaySettings(heartbeat_interval_s=0.5),
    )
    async with running(slow) as h:
        transport = httpx.ASGITransport(app=h.service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://presence") as client:
            early = await client.get("/readyz")
            assert early.status_code == 503
            assert early.json()["consuming"] is True
            assert early.json()["built"] is False
            await until(lambda: h.service.state.built)
            assert (await client.get("/readyz")).status_code == 200


async def test_without_a_key_the_api_is_not_ready() -> None:
    bus = MemoryBus()
    service = PresenceService(settings(), bus)  # no key file: it would fetch the JWKS
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://presence") as client:
        response = await client.get("/v1/presence", headers=bearer("x.y.z"))
        assert (response.status_code, response.json()["code"]) == (503, "not_ready")
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["token_key"] is False


async def test_the_key_is_fetched_from_the_jwks_after_the_api_comes_up() -> None:
    key = Ed25519PrivateKey.generate()
    calls = 0

    def api(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        assert request.url.path == "/.well-known/jwks.json"
        if calls < 3:
            return httpx.Response(503)
        return httpx.Response(200, json=jwks(key.public_key()))

    keys = Keys(settings())
    refreshing = asyncio.create_task(keys.run(httpx.MockTransport(api)))
    await until(lambda: keys.verifier is not None or refreshing.done())
    refreshing.cancel()
    assert calls == 3
    assert keys.verifier is not None
    token = TokenSigner(key, issuer=ISSUER, ttl_s=60).issue(
        user_id=1, account_id=2, role=Role.AGENT
    )
    assert keys.verifier.verify(token).account_id == 2


async def test_the_jwks_fetch_gives_up_loudly() -> None:
    config = settings().model_copy(update={"presence": PresenceSettings(jwks_timeout_s=0.3)})
    keys = Keys(config)
    gave_up = r"cannot reach the API's token key at http://\S+ within 0.3 s"
    with pytest.raises(Unavailable, match=gave_up):
        await keys.run(httpx.MockTransport(lambda _: httpx.Response(404)))


class BrokenBus(MemoryBus):
    """A bus whose queue cannot be declared: the consumer task dies at once."""

    def subscribe(self, spec: QueueSpec, *, prefetch: int | None = None) -> object:  # type: ignore[override]
        raise BusError("no queue for you")


async def test_a_dying_task_stops_the_server_instead_of_leaving_it_deaf() -> None:
    key = Ed25519PrivateKey.generate()
    service = PresenceService(
        settings(), BrokenBus(), verifier=TokenVerifier(key.public_key(), issuer=ISSUER)
    )
    async with asyncio.timeout(10):
        with pytest.raises(ExceptionGroup) as stopped:
            await serve(service, bind("127.0.0.1", free_port()), asyncio.Event())
    assert stopped.group_contains(BusError)


async def test_big_heartbeats_decode_like_small_ones() -> None:
    sockets = tuple(ref(f"sock-{i:06d}", 1 + i % 50) for i in range(3000))
    beat = NodeHeartbeat(
        node="gw-1", sent_at=now(), seq=1, epoch="e", interval_s=5, sockets=sockets
    )
    body = encode_message(beat)
    assert len(body) > FAST_PATH_BYTES
    decoded = await decode(body)
    assert isinstance(decoded, Snapshot)
    assert decoded.beat == beat.model_copy(update={"sockets": ()})
    assert decoded.sockets == [(s.socket_id, s.account_id, s.user_id) for s in sockets]


@pytest.mark.parametrize(
    "breakage",
    [
        {"socket_id": ""},
        {"socket_id": "x" * 65},
        {"account_id": 0},
        {"user_id": "one"},
        {"extra": 1},
    ],
)
async def test_big_heartbeats_are_refused_like_small_ones(breakage: dict[str, object]) -> None:
    good = {"socket_id": "s", "account_id": 1, "user_id": 1}
    sockets = [dict(good, socket_id=f"sock-{i:06d}") for i in range(3000)]
    sockets[2500] = {**good, **breakage}
    document = {
        "v": 1,
        "type": "node_heartbeat",
        "node": "gw-1",
        "sent_at": now().isoformat(),
        "seq": 1,
        "epoch": "e",
        "interval_s": 5,
        "sockets": sockets,
    }
    body = json.dumps(document).encode()
    assert len(body) > FAST_PATH_BYTES
    with pytest.raises(EventError):
        decode_message(body)
    with pytest.raises(EventError):
        await decode(body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def other_signer() -> TokenSigner:
    return TokenSigner(Ed25519PrivateKey.generate(), issuer=ISSUER, ttl_s=60)


async def test_metrics_want_the_token_and_docs_can_be_off() -> None:
    config = settings().model_copy(
        update={"metrics_token": SecretStr("scrape-me"), "api": ApiSettings(docs=False)}
    )
    async with running(config) as h:
        transport = httpx.ASGITransport(app=h.service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://presence") as client:
            refused = await client.get("/metrics")
            assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
            assert refused.headers["www-authenticate"] == "Bearer"
            served = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert served.status_code == 200
            assert "presence_active_consumer" in served.text
            assert served.headers["x-content-type-options"] == "nosniff"
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await client.get(path)).status_code == 404, path
