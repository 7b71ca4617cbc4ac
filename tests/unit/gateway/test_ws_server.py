"""A node behind its real WebSocket server on loopback, on both socket paths (fast frame writes
and the library's public API alone): the same bytes, HTTP answers, bounds and pings on each.

The bus, the API and presence are in memory; the sockets and the server are real, so the node
runs on the system clock here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from livedesk.gateway.main import gateway_node, run_server
from livedesk.gateway.node import Node
from livedesk.gateway.ws_fast import FastSocket
from livedesk.gateway.ws_plain import PlainSocket
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.lifecycle import bind
from livedesk.shared.settings import GatewaySettings, Settings
from tests.support.gateway import EventLog, FakePresence, Keys, until
from tests.support.services import answers
from tests.support.ws_raw import (
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_TEXT,
    raw_client,
    read_frame,
    stalled_client,
)

PATHS = pytest.mark.parametrize("fast_writes", [True, False], ids=["fast-writes", "plain-writes"])


@dataclass
class Served:
    node: Node
    log: EventLog
    host: str
    port: int

    def metric(self, name: str, **labels: str) -> float:
        value = self.node.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value


@asynccontextmanager
async def served(
    keys: Keys, fast_writes: bool, *, web: dict[str, Any] | None = None, **gateway: Any
) -> AsyncIterator[Served]:
    """`web`: top-level settings (allowed origins, the metrics token); `gateway`: its own."""
    bus = MemoryBus()
    log = EventLog(bus)
    options = {"unbind_grace_s": 0.0, "drain_window_s": 0.0, **gateway}
    settings = Settings(
        node_id="gw-ws",
        gateway=GatewaySettings(fast_writes=fast_writes, **options),
        **(web or {}),
    )
    stop = asyncio.Event()
    with bind("127.0.0.1", 0) as sock:
        host, port = sock.getsockname()[:2]
        async with gateway_node(bus, settings, keys.verifier, log, FakePresence()) as node:
            server = asyncio.create_task(run_server(node, settings, sock, stop))
            try:
                await until(lambda: answers(host, port))
                yield Served(node, log, host, port)
            finally:
                stop.set()
                await server


async def next_text(reader: asyncio.StreamReader) -> dict[str, Any]:
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == OPCODE_TEXT:
            frame: dict[str, Any] = json.loads(payload)
            return frame


@PATHS
async def test_an_event_reaches_a_real_socket_as_the_bytes_committed(
    keys: Keys, fast_writes: bool
) -> None:
    async with served(keys, fast_writes) as gw:
        reader, writer = await raw_client(gw.host, gw.port, keys.token(1, 1))
        assert (await next_text(reader))["type"] == "ready"
        assert (await next_text(reader))["type"] == "presence_state"
        (client,) = gw.node._clients  # the server side of our one socket: on the path asked
        assert type(client.socket) is (FastSocket if fast_writes else PlainSocket)
        await gw.log.post(1, 10)
        assert await read_frame(reader) == (OPCODE_TEXT, gw.log.events[1][0])
        writer.close()


@PATHS
async def test_the_http_routes_answer_on_the_sockets_port(keys: Keys, fast_writes: bool) -> None:
    async with (
        served(keys, fast_writes) as gw,
        httpx.AsyncClient(base_url=f"http://{gw.host}:{gw.port}") as http,
    ):
        assert (await http.get("/healthz")).text == "ok\n"
        assert (await http.get("/readyz")).status_code == 200
        metrics = await http.get("/metrics")
        assert "livedesk_gateway_connections" in metrics.text
        assert (await http.get("/nope")).status_code == 404


@PATHS
async def test_a_reader_that_stops_reading_is_closed_with_4409(
    keys: Keys, fast_writes: bool
) -> None:
    bounds: dict[str, Any] = {"send_queue_bytes": 64 * 1024, "socket_send_buffer_bytes": 4096}
    async with served(keys, fast_writes, **bounds) as gw:
        with contextlib.closing(await stalled_client(gw.host, gw.port, keys.token(1, 1))):
            await until(lambda: gw.metric("livedesk_gateway_sockets") == 1)
            posted = 0
            while not gw.metric("livedesk_gateway_closes_total", code="4409"):
                await gw.log.post(1, 10, content="x" * 8000)
                posted += 1
                assert posted < 1000, "the stalled reader was never closed"
                await asyncio.sleep(0)  # the writes reach the kernel, which fills


@PATHS
async def test_a_peer_deaf_to_pings_is_closed_with_1011(keys: Keys, fast_writes: bool) -> None:
    async with served(keys, fast_writes, ping_interval_s=0.1, ping_timeout_s=0.2) as gw:
        reader, writer = await raw_client(gw.host, gw.port, keys.token(1, 1))
        opcodes = []
        while (frame := await read_frame(reader))[0] != OPCODE_CLOSE:
            opcodes.append(frame[0])  # pings it never answers among them
        assert OPCODE_PING in opcodes
        assert int.from_bytes(frame[1][:2], "big") == 1011
        assert gw.metric("livedesk_gateway_closes_total", code="1011") == 1
        writer.close()
