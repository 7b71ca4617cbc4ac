"""The gateway in the real topology: api, presence and two gateways as processes on loopback
ports, RabbitMQ and PostgreSQL, messages posted over REST.

Each frame and error path of /ws against real tokens from the API; tenancy (a token of account
A asking for B's conversation is refused and nothing of B arrives); no loss when a gateway is
SIGKILLed mid-stream and its clients resume on the other, when RabbitMQ is stopped and started
(on the private node), and when a slow reader is closed with 4409; sparse tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from livedesk.api.accounts import create_account
from livedesk.api.db import make_engine
from livedesk.api.passwords import Passwords
from livedesk.shared.tokens import (
    Role,
    TokenSigner,
    ensure_key_pair,
    load_private_key,
)
from livedesk_client import Client, Frame, State
from tests.support.api import (
    ApiProcess,
    livedesk,
    livedesk_env,
    login,
    postgres_database,
    spread_account_ids,
)
from tests.support.gateway import until
from tests.support.ports import free_port
from tests.support.private_rabbit import PrivateRabbit
from tests.support.ws_client import WsClient

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]

PASSWORD = "correct horse battery"


class Service:
    """`livedesk <command>` as a real process on a loopback port, healthy before use."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        port: int,
        *,
        usable: Callable[[httpx.Response], bool] = lambda readyz: readyz.status_code == 200,
    ) -> None:
        self.command, self.env, self.port = command, env, port
        self._usable = usable
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/ws"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        argv = [sys.executable, "-m", "livedesk.cli.main", *self.command]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        self._process = subprocess.Popen(argv, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self._process.returncode}")
            try:
                if self._usable(httpx.get(self.http + "/readyz", timeout=1)):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.command} did not become ready")

    def kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(20)
        self.kill()

    async def metric(self, name: str, **labels: str) -> float:
        """One sample from /metrics (0 when absent)."""
        async with httpx.AsyncClient() as http:
            text = (await http.get(self.http + "/metrics")).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        target = f"{name}{{{wanted}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(target + " "):
                return float(line.split()[-1])
        return 0.0


@dataclass
class Tenant:
    account_id: int
    user_id: int
    token: str
    conversation_id: int
    api: str
    posted: int = 0
    email: str = ""

    async def post(self, http: httpx.AsyncClient, content: str = "hello") -> None:
        response = await http.post(
            # The contact's message, imported by the account's admin.
            f"{self.api}/v1/conversations/{self.conversation_id}/messages:import",
            json={"content": content, "kind": "incoming", "client_id": secrets.token_hex(8)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code in (200, 201), response.text
        self.posted += 1


@dataclass
class Stack:
    env: dict[str, str]
    database_url: str
    api: ApiProcess
    presence: Service
    gateways: list[Service]
    private_key: Ed25519PrivateKey
    services: list[Any] = field(default_factory=list)

    async def tenant(self) -> Tenant:
        name = secrets.token_hex(4)
        email = f"admin-{name}@example.org"
        engine = make_engine(self.database_url)
        try:
            created = await create_account(
                engine, Passwords(time_cost=1, memory_kib=8), name=f"acme-{name}",
                email=email, password=PASSWORD,
            )  # fmt: skip
        finally:
            await engine.dispose()
        async with httpx.AsyncClient(base_url=self.api.url) as http:
            token = await login(http, email, PASSWORD)
            auth = {"Authorization": f"Bearer {token}"}
            inbox = (await http.post("/v1/inboxes", json={"name": "web"}, headers=auth)).json()
            contact = (await http.post("/v1/contacts", json={"name": "c"}, headers=auth)).json()
            conversation = await http.post(
                "/v1/conversations",
                json={"inbox_id": inbox["id"], "contact_id": contact["id"]},
                headers=auth,
            )
            assert conversation.status_code == 201, conversation.text
        tenant = Tenant(
            created.account_id,
            created.user_id,
            token,
            conversation.json()["id"],
            self.api.url,
            email=email,
        )
        tenant.posted = 1  # new_conversation is the account's first event
        return tenant

    def token(self, tenant: Tenant, *, ttl_s: int = 3600, now: float | None = None) -> str:
        signer = TokenSigner(self.private_key, issuer="livedesk", ttl_s=ttl_s)
        return signer.issue(
            user_id=tenant.user_id, account_id=tenant.account_id, role=Role.ADMIN, now=now
        )


@contextmanager
def running_stack(
    amqp_url: str,
    postgres_url: str,
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    api_args: tuple[str, ...] = (),
    service_amqp_urls: dict[str, str] | None = None,
    **gateway: str,
) -> Iterator[Stack]:
    """The stack, each service on `amqp_url` or on its own from `service_amqp_urls` (by
    service: api, gateway, presence)."""

    def env_of(service: str) -> dict[str, str]:
        if service_amqp_urls is None:
            return env
        return {**env, "LIVEDESK_AMQP_URL": service_amqp_urls[service]}

    private, _ = ensure_key_pair(data_dir / "keys")  # the API uses this pair
    with postgres_database(postgres_url) as database_url:
        api_port, presence_port = free_port(), free_port()
        env = livedesk_env(
            {
                "LIVEDESK_DATABASE_URL": database_url,
                "LIVEDESK_AMQP_URL": amqp_url,
                "LIVEDESK_DATA_DIR": str(data_dir),
                "LIVEDESK_API_URL": f"http://127.0.0.1:{api_port}",
                "LIVEDESK_PRESENCE_URL": f"http://127.0.0.1:{presence_port}",
                "LIVEDESK_BUS__RECONNECT_INTERVAL_S": "0.5",
                "LIVEDESK_GATEWAY__AUTH_TIMEOUT_S": "2",
                "LIVEDESK_GATEWAY__DRAIN_WINDOW_S": "0.5",
                **{f"LIVEDESK_GATEWAY__{k.upper()}": v for k, v in gateway.items()},
                **(extra_env or {}),
            }
        )
        migrated = livedesk("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        # Account ids of our own: the shared broker carries other runs' account 1.
        asyncio.run(spread_account_ids(database_url))
        started: list[Any] = []
        try:
            api = ApiProcess(env_of("api"), api_port, api_args).start()
            started.append(api)
            # Presence is ready once its state is built, a heartbeat round after it consumes
            # (docs/adr/0004); the gateways started next send those heartbeats, so the
            # stack needs only its queue to exist, as it would after a presence restart.
            presence = Service(
                ["presence"], env_of("presence"), presence_port, usable=consuming
            ).start()
            started.append(presence)
            gateways = []
            for number in range(2):
                node = f"gw-sys-{secrets.token_hex(3)}-{number}"
                gateway_process = Service(
                    ["gateway", "--node-id", node], env_of("gateway"), free_port()
                )
                gateways.append(gateway_process.start())
                started.append(gateway_process)
            yield Stack(env, database_url, api, presence, gateways, load_private_key(private))
        finally:
            for service in reversed(started):
                service.stop()


def consuming(readyz: httpx.Response) -> bool:
    return readyz.status_code in (200, 503) and readyz.json().get("consuming") is True


@pytest.fixture(scope="module")
def stack(
    amqp_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = Path(tmp_path_factory.mktemp("stack"))
    with running_stack(amqp_url, postgres_url, data_dir, send_queue_bytes="262144") as running:
        yield running


@asynccontextmanager
async def client(url: str, *, reading: bool = True) -> AsyncIterator[WsClient]:
    ws = await WsClient(url).open(reading=reading)
    try:
        yield ws
    finally:
        await ws.close()


# -- each frame and error path ------------------------------------------------------------


async def test_ready_subscribe_typing_ping_over_the_real_stack(stack: Stack) -> None:
    tenant = await stack.tenant()
    async with client(stack.gateways[0].ws) as one, client(stack.gateways[1].ws) as two:
        ready = await one.auth(tenant.token)
        assert (ready["account_id"], ready["user_id"]) == (tenant.account_id, tenant.user_id)
        assert ready["offset"] == 1  # the new_conversation
        await two.auth(stack.token(tenant))
        await until(lambda: one.of_type("presence_state") and two.of_type("presence_state"))
        for ws in (one, two):
            await ws.send({"type": "subscribe", "conversation_id": tenant.conversation_id,
                           "ref": "s"})  # fmt: skip
        await until(lambda: one.of_type("subscribed") and two.of_type("subscribed"))
        assert one.of_type("subscribed")[0]["ref"] == "s"
        # Typing on one socket goes through presence and reaches the other node's subscriber.
        await one.send({"type": "typing", "conversation_id": tenant.conversation_id,
                        "state": "start"})  # fmt: skip
        await until(lambda: two.of_type("typing"), timeout_s=15)
        assert two.of_type("typing")[0]["user_id"] == tenant.user_id
        async with httpx.AsyncClient() as http:
            await tenant.post(http)
        await until(lambda: one.offsets() == [2] and two.offsets() == [2])
        await one.send({"type": "ping", "ref": 9})
        await until(lambda: one.of_type("pong"))
        assert one.of_type("pong")[0] == {"type": "pong", "offset": 2, "ref": 9}


async def test_a_token_of_a_cannot_hear_b(stack: Stack) -> None:
    a, b = await stack.tenant(), await stack.tenant()
    async with client(stack.gateways[0].ws) as spy, client(stack.gateways[1].ws) as witness:
        await spy.auth(a.token)
        await witness.auth(b.token)
        await spy.send({"type": "subscribe", "conversation_id": b.conversation_id, "ref": 1})
        await until(lambda: spy.of_type("error"))
        assert spy.of_type("error")[0]["code"] == "forbidden"
        await spy.send({"type": "typing", "conversation_id": b.conversation_id,
                        "state": "start"})  # fmt: skip
        await witness.send({"type": "subscribe", "conversation_id": b.conversation_id})
        await until(lambda: witness.of_type("subscribed"))
        async with httpx.AsyncClient() as http:
            for _ in range(5):
                await b.post(http)
            await a.post(http)
        await until(lambda: len(witness.offsets()) == 5 and spy.offsets() == [2])
        heard = {f.get("account_id") for f in spy.frames if "account_id" in f}
        assert heard == {a.account_id}
        assert all(f.get("conversation_id") != b.conversation_id for f in spy.frames
                   if f["type"] != "error")  # fmt: skip


async def test_expired_forged_and_garbage_tokens_close_with_4401(
    stack: Stack, tmp_path: Path
) -> None:
    tenant = await stack.tenant()
    expired = stack.token(tenant, ttl_s=60, now=time.time() - 600)
    forged_dir = tmp_path / "forged"
    private, _ = ensure_key_pair(forged_dir)
    forged = TokenSigner(load_private_key(private), issuer="livedesk", ttl_s=600).issue(
        user_id=tenant.user_id, account_id=tenant.account_id, role=Role.ADMIN
    )
    for token, code in ((expired, "token_expired"), (forged, "token_invalid"),
                        ("x.y.z", "token_invalid")):  # fmt: skip
        async with client(stack.gateways[0].ws) as ws:
            await ws.send({"type": "auth", "token": token, "ref": "a"})
            assert await ws.wait_closed() == 4401
            assert ws.of_type("error")[0]["code"] == code
            assert ws.of_type("error")[0]["ref"] == "a"


async def test_no_auth_in_time_closes_with_4408(stack: Stack) -> None:
    async with client(stack.gateways[1].ws) as ws:
        assert await ws.wait_closed() == 4408


async def test_bad_frames_get_errors_then_the_socket_stays(stack: Stack) -> None:
    tenant = await stack.tenant()
    async with client(stack.gateways[0].ws) as ws:
        await ws.auth(tenant.token)
        await ws.send(b"\xff binary garbage")
        await ws.send("[1, 2]")
        await ws.send({"type": "dance"})
        await ws.send({"type": "subscribe", "conversation_id": "seven"})
        await ws.send({"type": "ping", "pad": "p" * 70_000})
        await ws.send({"type": "ping", "ref": "alive"})
        await until(lambda: ws.of_type("pong"))
        codes = [f["code"] for f in ws.of_type("error")]
        assert codes == [
            "invalid_json", "not_an_object", "unknown_type", "invalid_frame", "frame_too_large",
        ]  # fmt: skip
        assert ws.close_code is None


async def test_a_frame_flood_closes_with_4429(stack: Stack) -> None:
    tenant = await stack.tenant()
    async with client(stack.gateways[1].ws) as ws:
        await ws.auth(tenant.token)
        for _ in range(500):
            if ws.closed.is_set():
                break
            await ws.send({"type": "ping"})
        assert await ws.wait_closed() == 4429


async def test_near_its_socket_cap_a_gateway_is_unready_and_past_it_refuses(
    stack: Stack,
) -> None:
    caps = {"MAX_SOCKETS_PER_NODE": "3", "UNREADY_AT_SOCKET_FRACTION": "0.6"}
    env = {**stack.env, **{f"LIVEDESK_GATEWAY__{k}": v for k, v in caps.items()}}
    node = f"gw-sys-cap-{secrets.token_hex(3)}"
    capped = Service(["gateway", "--node-id", node], env, free_port()).start()  # ready at 0
    tenant = await stack.tenant()

    async def readyz() -> int:
        async with httpx.AsyncClient() as http:
            return (await http.get(capped.http + "/readyz")).status_code

    try:
        async with client(capped.ws) as one, client(capped.ws) as two:
            for ws in (one, two):
                await ws.auth(tenant.token)
            assert await readyz() == 503  # 2 of 3: a load balancer sends sockets elsewhere
            async with client(capped.ws) as three:
                await three.auth(tenant.token)  # counted: the third of 3
                async with client(capped.ws) as refused:
                    assert await refused.wait_closed() == 1013
            assert await capped.metric("livedesk_gateway_socket_refusals_total", cap="node") == 1
        async with asyncio.timeout(20):
            # Polling a process: the sockets' handlers finish shortly after their close.
            while await readyz() != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        capped.stop()


# -- backpressure and tenancy --------------------------------------------------------------


async def test_a_slow_reader_gets_4409_and_resumes_with_no_loss(stack: Stack) -> None:
    tenant = await stack.tenant()
    gateway = stack.gateways[0]
    closed_before = await gateway.metric("livedesk_gateway_closes_total", code="4409")
    async with (
        client(gateway.ws) as reader,
        client(gateway.ws, reading=False) as slow,
        httpx.AsyncClient() as http,
    ):
        await reader.auth(tenant.token)
        await slow.send({"type": "auth", "token": tenant.token})
        await asyncio.sleep(0.5)
        while await gateway.metric("livedesk_gateway_closes_total", code="4409") == closed_before:
            for _ in range(10):
                await tenant.post(http, content="x" * 16_000)
            assert tenant.posted < 3000, "the slow reader was never closed"
        await tenant.post(http)
        latest = tenant.posted
        await until(lambda: len(reader.offsets()) == latest - 1, timeout_s=30)
        assert reader.offsets() == list(range(2, latest + 1))
        slow.start_reading()
        assert await slow.wait_closed() == 4409
        got = slow.offsets()
        assert got == list(range(2, len(got) + 2))
    async with client(stack.gateways[1].ws) as again:
        await again.auth(tenant.token, resume_from=got[-1] if got else 1)
        await until(lambda: len(got) + len(again.offsets()) == latest - 1, timeout_s=30)
        assert got + again.offsets() == list(range(2, latest + 1))


async def test_a_gateway_hears_nothing_of_an_account_it_does_not_serve(stack: Stack) -> None:
    served, unserved = await stack.tenant(), await stack.tenant()
    first, second = stack.gateways
    before = await second.metric("livedesk_gateway_broker_messages_total", kind="persistent")
    foreign_before = await second.metric("livedesk_gateway_foreign_messages_total")
    async with client(first.ws) as ws, httpx.AsyncClient() as http:
        await ws.auth(unserved.token)
        async with client(second.ws) as other:
            await other.auth(served.token)
            for _ in range(20):
                await unserved.post(http)
            await served.post(http)
            await until(lambda: len(ws.offsets()) == 20 and other.offsets() == [2])
        after = await second.metric("livedesk_gateway_broker_messages_total", kind="persistent")
        assert after - before == 1  # its own tenant's one message, none of the other's 20
        assert await second.metric("livedesk_gateway_foreign_messages_total") == foreign_before


# -- no loss through faults ------------------------------------------------------------------


class Resuming:
    """A livedesk-client `Client` starting on gateway `start`, noting offsets and reconnects."""

    def __init__(self, urls: list[str], token: str, start: int) -> None:
        first = start % len(urls)
        self.offsets: list[int] = []
        self.reconnects = 0
        self.client = Client(urls[first:] + urls[:first], lambda: token, on_state=self._state)
        self.client.on("*", self._event)

    def _event(self, event: Frame) -> None:
        if "offset" in event:
            self.offsets.append(event["offset"])

    def _state(self, state: State, _delay_s: float | None) -> None:
        self.reconnects += state is State.RECONNECTING


async def stream_and_check(
    stack: Stack, fault: Any, *, clients_per_account: int = 4, messages: int = 120
) -> list[Resuming]:
    tenants = [await stack.tenant(), await stack.tenant()]
    urls = [g.ws for g in stack.gateways]
    resuming = [
        (tenant, Resuming(urls, tenant.token, start=n))
        for tenant in tenants
        for n in range(clients_per_account)
    ]
    for _, r in resuming:
        r.client.start()
    await until(lambda: all(r.client.state is State.OPEN for _, r in resuming), timeout_s=20)

    async def post_steadily(http: httpx.AsyncClient) -> None:
        for number in range(messages):
            for tenant in tenants:
                await tenant.post(http)
            await asyncio.sleep(0.02)
            if number == messages // 3:
                await asyncio.to_thread(fault)

    async with httpx.AsyncClient(timeout=60) as http:
        await post_steadily(http)
    try:
        await until(lambda: all(len(r.offsets) >= t.posted - 1 for t, r in resuming), timeout_s=50)
    finally:
        await asyncio.gather(*(r.client.close() for _, r in resuming))
    for tenant, r in resuming:
        assert r.offsets == list(range(2, tenant.posted + 1)), f"client of {tenant.account_id}"
    return [r for _, r in resuming]


@pytest.fixture
def fresh_stack(amqp_url: str, postgres_url: str, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(amqp_url, postgres_url, tmp_path) as running:
        yield running


@pytest.fixture
def private_stack(
    private_rabbit: PrivateRabbit, postgres_url: str, tmp_path: Path
) -> Iterator[Stack]:
    with running_stack(private_rabbit.url, postgres_url, tmp_path) as running:
        yield running


async def test_sigkill_of_a_gateway_loses_nothing(fresh_stack: Stack) -> None:
    clients = await stream_and_check(fresh_stack, fresh_stack.gateways[0].kill)
    assert sum(c.reconnects for c in clients) >= 4  # the killed node's clients did move


@pytest.mark.fault
async def test_rabbitmq_stopped_and_started_mid_stream_loses_nothing(
    private_rabbit: PrivateRabbit, private_stack: Stack
) -> None:
    def restart() -> None:
        private_rabbit.stop_app()
        time.sleep(1.0)
        private_rabbit.start_app()

    await stream_and_check(private_stack, restart, messages=80)


async def test_sigterm_drains_with_reconnect_then_1001(fresh_stack: Stack) -> None:
    tenant = await fresh_stack.tenant()
    draining = fresh_stack.gateways[0]
    clients = [await WsClient(draining.ws).open() for _ in range(6)]
    for ws in clients:
        await ws.auth(tenant.token)
    draining.stop()  # SIGTERM, then waits for the process to exit
    for ws in clients:
        assert await ws.wait_closed() == 1001
        assert ws.of_type("reconnect")
        await ws.close()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(draining.http + "/healthz")
    # Its clients resume on the other node with nothing lost.
    async with client(fresh_stack.gateways[1].ws) as again, httpx.AsyncClient() as http:
        await again.auth(tenant.token, resume_from=1)
        await tenant.post(http)
        await until(lambda: again.offsets() == [2])
