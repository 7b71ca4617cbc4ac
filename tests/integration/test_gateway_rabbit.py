"""A gateway node on real RabbitMQ behind its real WebSocket server, with a replay source.

The API is replaced by `EventLog` (its side of the replay contract, in the test process,
publishing through its own RabbitBus as the relay does) so these tests are about the node:
frames over a real socket, its HTTP endpoints, per-account bindings on a real broker (sparse
tenants), a real slow reader, and broker faults on a private node with nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from livedesk.gateway.main import gateway_node, run_server
from livedesk.gateway.node import Node
from livedesk.gateway.ws_fast import FastSocket
from livedesk.gateway.ws_plain import PlainSocket
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.lifecycle import bind
from livedesk.shared.settings import BusSettings, GatewaySettings, Settings
from tests.support.gateway import EventLog, FakePresence, Keys, until
from tests.support.ports import free_port
from tests.support.private_rabbit import PrivateRabbit
from tests.support.services import answers
from tests.support.ws_client import WsClient
from tests.support.ws_raw import (
    OPCODE_CLOSE,
    OPCODE_PING,
    masked_pong,
    raw_client,
    read_frame,
    stalled_client,
)

pytestmark = pytest.mark.rabbit

BUS = BusSettings(reconnect_interval_s=0.5, connect_timeout_s=30)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(Path(tmp_path_factory.mktemp("keys")))


@pytest.fixture(
    params=[
        pytest.param(True, id="fast-writes"),
        pytest.param(False, id="plain-writes", marks=pytest.mark.slow),
    ]
)
def fast_writes(request: pytest.FixtureRequest) -> bool:
    """Each test runs on both socket paths (docs/adr/0002-gateway-frame-writes.md); the plain
    one, the fast one's fallback, in the longer suite (`-m slow`)."""
    fast: bool = request.param
    return fast


def account() -> int:
    # The shared broker carries other runs' traffic: accounts of our own, far from theirs.
    return random.randint(10**12, 10**13)


@dataclass
class Gateway:
    node: Node
    url: str
    http: str

    def metric(self, name: str, **labels: str) -> float:
        value = self.node.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.http.removeprefix("http://").split(":")
        return host, int(port)


@asynccontextmanager
async def gateway(
    amqp_url: str, keys: Keys, log: EventLog, **options: Any
) -> AsyncIterator[Gateway]:
    settings = Settings(
        amqp_url=amqp_url,
        node_id=f"gw-it-{secrets.token_hex(3)}",
        bus=BUS,
        gateway=GatewaySettings(**{"unbind_grace_s": 0.0, "gap_wait_s": 0.1, **options}),
    )
    stop = asyncio.Event()
    port = free_port()
    async with (
        RabbitBus.connect(amqp_url, BUS, name=settings.node_id) as bus,
        gateway_node(bus, settings, keys.verifier, log, FakePresence()) as node,
    ):
        server = asyncio.create_task(run_server(node, settings, bind("127.0.0.1", port), stop))
        try:
            await until(lambda: answers("127.0.0.1", port))
            yield Gateway(node, f"ws://127.0.0.1:{port}/ws", f"http://127.0.0.1:{port}")
        finally:
            stop.set()
            await server


@asynccontextmanager
async def event_log(amqp_url: str) -> AsyncIterator[EventLog]:
    async with RabbitBus.connect(amqp_url, BUS, name="event-log") as bus:
        yield EventLog(bus)


async def test_frames_and_http_endpoints_over_real_sockets(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    a = account()
    async with (
        event_log(amqp_url) as log,
        gateway(amqp_url, keys, log, fast_writes=fast_writes) as gw,
    ):
        conversation = log.conversation(a, random.randint(1, 10**9))
        client = await WsClient(gw.url).open()
        ready = await client.auth(keys.token(a, 5))
        assert (ready["account_id"], ready["user_id"], ready["offset"]) == (a, 5, 0)
        (served,) = gw.node._clients  # the server side of our one socket: on the path asked
        assert type(served.socket) is (FastSocket if fast_writes else PlainSocket)
        await client.send({"type": "subscribe", "conversation_id": conversation, "ref": 1})
        await client.send(b"\x00not json")
        await client.send({"type": "ping", "pad": "x" * (64 * 1024)})  # over max_frame_bytes
        await client.send({"type": "ping", "ref": "p"})
        await until(lambda: client.of_type("pong"))
        codes = [f["code"] for f in client.of_type("error")]
        assert codes == ["invalid_json", "frame_too_large"]
        assert client.of_type("subscribed")[0]["ref"] == 1
        await log.post(a, conversation)
        await until(lambda: client.offsets() == [1])
        async with httpx.AsyncClient(base_url=gw.http) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/nope")).status_code == 404
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            # At least: a presence process of another run on the shared broker may answer
            # our node's connection_opened with an agent_status, delivered here too.
            assert gw.metric("livedesk_gateway_broker_messages_total", kind="persistent") == 1
            assert gw.metric("livedesk_gateway_deliveries_total") >= 1
            assert "livedesk_gateway_deliveries_total" in metrics.text
            assert "livedesk_gateway_sockets_per_account_bucket" in metrics.text
        await client.close()


async def test_a_node_receives_only_its_own_tenants_traffic(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    mine, theirs = account(), account()
    async with (
        event_log(amqp_url) as log,
        gateway(amqp_url, keys, log, fast_writes=fast_writes) as first,
        gateway(amqp_url, keys, log, fast_writes=fast_writes) as second,
    ):
        here = await WsClient(first.url).open()
        there = await WsClient(second.url).open()
        await here.auth(keys.token(mine, 1))
        await there.auth(keys.token(theirs, 2))
        for _ in range(20):
            await log.post(theirs, 7)
        await log.post(mine, 8)
        await until(lambda: there.offsets() == list(range(1, 21)) and here.offsets() == [1])
        # The first node got its own account's one event and nothing of the other's.
        assert first.metric("livedesk_gateway_broker_messages_total", kind="persistent") == 1
        assert first.metric("livedesk_gateway_foreign_messages_total") == 0
        assert second.metric("livedesk_gateway_broker_messages_total", kind="persistent") == 20
        await here.close()
        await there.close()


async def test_a_real_slow_reader_gets_4409_and_resumes_with_no_loss(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    a = account()
    bound = 256 * 1024
    async with (
        event_log(amqp_url) as log,
        gateway(amqp_url, keys, log, send_queue_bytes=bound, fast_writes=fast_writes) as gw,
    ):
        reader = await WsClient(gw.url).open()
        await reader.auth(keys.token(a, 1))
        slow = await WsClient(gw.url).open(reading=False)
        await slow.send({"type": "auth", "token": keys.token(a, 2)})
        await until(lambda: gw.metric("livedesk_gateway_sockets") == 2)
        total = 0
        # ~8 KB events until the slow socket's kernel buffers and then its bound fill up.
        while not gw.metric("livedesk_gateway_closes_total", code="4409"):
            total += 1
            await log.post(a, 3, content="x" * 8000)
            assert total < 5000, "the slow reader was never closed"
        for _ in range(5):
            total += 1
            await log.post(a, 3)
        await until(lambda: len(reader.offsets()) == total)
        assert reader.offsets() == list(range(1, total + 1))
        slow.start_reading()
        assert await slow.wait_closed() == 4409
        got = slow.offsets()
        assert got == list(range(1, len(got) + 1))
        again = await WsClient(gw.url).open()
        await again.auth(keys.token(a, 2), resume_from=got[-1] if got else 0)
        await until(lambda: len(got) + len(again.offsets()) == total)
        assert got + again.offsets() == list(range(1, total + 1))
        await reader.close()
        await again.close()


@pytest.mark.fault
@pytest.mark.parametrize("fault", ["close_all_connections", "stop_and_start"])
async def test_nothing_is_lost_through_a_broker_fault(
    private_rabbit: PrivateRabbit, keys: Keys, fault: str, fast_writes: bool
) -> None:
    a = account()
    url = private_rabbit.url
    async with event_log(url) as log, gateway(url, keys, log, fast_writes=fast_writes) as gw:
        clients = [await WsClient(gw.url).open() for _ in range(3)]
        for number, client in enumerate(clients):
            await client.auth(keys.token(a, number + 1))
        total = 150

        async def stream() -> None:
            for _ in range(total):
                await log.post(a, 11)  # the publish retries through the fault, as the relay
                await asyncio.sleep(0.01)

        streaming = asyncio.create_task(stream())
        await until(lambda: len(log.events.get(a, [])) >= 50)
        if fault == "close_all_connections":
            await asyncio.to_thread(private_rabbit.close_all_connections)
        else:
            await asyncio.to_thread(private_rabbit.stop_app)
            await asyncio.to_thread(private_rabbit.start_app)
        await streaming
        await until(lambda: all(len(c.offsets()) >= total for c in clients), timeout_s=40)
        for client in clients:
            assert client.offsets() == list(range(1, total + 1))
            await client.close()


async def test_a_peer_that_stops_answering_pings_is_closed_with_1011(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    a = account()
    async with (
        event_log(amqp_url) as log,
        gateway(
            amqp_url, keys, log, ping_interval_s=0.2, ping_timeout_s=0.3, fast_writes=fast_writes
        ) as gw,
    ):
        # Handshake and auth, then silence: it never answers the pings it is sent.
        reader, writer = await raw_client(*gw.address, keys.token(a, 1))
        await until(lambda: gw.metric("livedesk_gateway_sockets") == 1)
        opcodes = []
        while (frame := await read_frame(reader))[0] != OPCODE_CLOSE:
            opcodes.append(frame[0])
        assert OPCODE_PING in opcodes
        assert int.from_bytes(frame[1][:2], "big") == 1011
        assert gw.metric("livedesk_gateway_closes_total", code="1011") == 1
        await until(lambda: gw.metric("livedesk_gateway_sockets") == 0, timeout_s=15)
        await until(lambda: not gw.node.hub.bindings.is_bound(a))
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_peer_that_answers_pings_stays_open(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    async with (
        event_log(amqp_url) as log,
        gateway(
            amqp_url, keys, log, ping_interval_s=0.2, ping_timeout_s=0.3, fast_writes=fast_writes
        ) as gw,
    ):
        reader, writer = await raw_client(*gw.address, keys.token(account(), 1))
        answered = 0
        while answered < 5:  # each sweep finds the last pong in and pings again
            opcode, payload = await read_frame(reader)
            assert opcode != OPCODE_CLOSE, payload
            if opcode == OPCODE_PING:
                writer.write(masked_pong(payload))
                answered += 1
        assert gw.metric("livedesk_gateway_sockets") == 1
        assert gw.metric("livedesk_gateway_closes_total", code="1011") == 0
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_accepted_sockets_get_a_fixed_kernel_send_buffer(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    # Autotuned, loopback send buffers grow to megabytes the send-queue bounds cannot see.
    async with (
        event_log(amqp_url) as log,
        gateway(amqp_url, keys, log, fast_writes=fast_writes) as gw,
    ):
        client = await WsClient(gw.url).open()
        await client.auth(keys.token(account(), 1))
        (served,) = gw.node._clients  # the server side of our one socket
        raw = served.socket._transport.get_extra_info("socket")  # type: ignore[attr-defined]
        # Linux doubles what it is given, for its own bookkeeping.
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 64 * 1024
        assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT) == 16 * 1024
        await client.close()


async def test_a_stalled_readers_backlog_reaches_the_send_queue_within_the_unsent_bound(
    amqp_url: str, keys: Keys, fast_writes: bool
) -> None:
    # A stalled reader's window is shut, so all the kernel holds for it is unsent: without
    # the bound the kernel took the whole send buffer (2 x 64 KB) before the node's own
    # buffer, where the send queue's lag bound looks, held a byte.
    a = account()
    async with (
        event_log(amqp_url) as log,
        gateway(amqp_url, keys, log, fast_writes=fast_writes) as gw,
    ):
        reader = await WsClient(gw.url).open()
        await reader.auth(keys.token(a, 1))
        with contextlib.closing(await stalled_client(*gw.address, keys.token(a, 2))):
            await until(lambda: gw.metric("livedesk_gateway_sockets") == 2)
            (served,) = [c for c in gw.node._clients if c.user_id == 2]
            posted = 0
            while served.socket.buffered() == 0:
                offset = await log.post(a, 3, content="x" * 1000)
                posted += 1000
                await until(lambda last=offset: reader.offsets()[-1:] == [last])
                assert posted < 64 * 1024, "the kernel took more than the unsent bound"
            offset = await log.post(a, 3)
            await until(lambda: reader.offsets()[-1:] == [offset])
            assert served.queue.waiting  # the lag bound now applies to it
        await reader.close()
