"""The fan-out load generator's client against a scripted server on loopback, one per
protocol: auth or the Engine.IO/Socket.IO handshake, pings of both layers answered, events
timed and checked, a close code recorded, and a reconnect that resumes where it stopped.

The server is the `websockets` library's, in this process: a client that gets the upgrade,
the masking or the close handshake wrong fails here against an independent implementation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bench.fanout.client import LIVEDESK, PEER, Client
from bench.fanout.codecs import SocketIOCodec
from bench.fanout.loadgen import Generator

Script = Callable[[ServerConnection], Awaitable[None]]


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[str, list[Script]]]:
    """A server that plays the next script to each connection; its URL and the scripts."""
    scripts: list[Script] = []

    async def handler(ws: ServerConnection) -> None:
        await scripts.pop(0)(ws)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}", scripts


def livedesk_event(offset: int) -> str:
    return json.dumps({"type": "new_message", "offset": offset, "ts": time.time()})


async def test_livedesk_client_records_4409_and_resumes_after_it(
    scripted: tuple[str, list[Script]],
) -> None:
    url, scripts = scripted
    auths: list[dict[str, object]] = []

    async def evicted(ws: ServerConnection) -> None:
        auths.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "ready", "offset": 0}))
        await asyncio.wait_for(await ws.ping(b"beat"), 5)  # answered with a pong
        await ws.send(livedesk_event(1))
        await ws.send(livedesk_event(2))
        await ws.close(4409, "too slow")

    async def resumed(ws: ServerConnection) -> None:
        auths.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "ready", "offset": 2}))
        await ws.send(livedesk_event(3))
        await ws.close()

    scripts += [evicted, resumed]
    gen = Generator()
    gen.protocol = LIVEDESK
    client = Client(gen, 0, {"url": url, "account": 7, "token": "secret"})
    client.want_reconnect = True  # as a stalled reader that reads again does
    await asyncio.wait_for(client.run(), 10)  # ends at the second close: no third connect
    assert auths == [
        {"type": "auth", "token": "secret"},
        {"type": "auth", "token": "secret", "resume_from": 2},
    ]
    assert (dict(gen.closes), client.reconnects) == ({4409: 1, 1000: 1}, 1)
    assert (client.ledger.gaps, client.ledger.duplicates, gen.deliveries) == (0, 0, 3)
    assert gen.latency[url].count == 3
    assert not gen.errors


async def test_peer_client_connects_answers_pings_and_counts_a_refusal(
    scripted: tuple[str, list[Script]],
) -> None:
    url, scripts = scripted
    received: list[str | bytes] = []

    async def served(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}')
        received.append(await ws.recv())  # the Socket.IO connect
        await ws.send('40{"sid":"s1"}')
        await ws.send("2")  # an Engine.IO ping
        received.append(await ws.recv())
        await ws.send(SocketIOCodec.event_frame("new_message", {"seq": 1, "ts": time.time()}))
        await ws.close()

    async def refused(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"e2"}')
        received.append(await ws.recv())
        await ws.send('44{"message":"no"}')
        await ws.wait_closed()

    scripts += [served, refused]
    gen = Generator()
    served_client, refused_client = (Client(gen, i, {"url": url, "account": 5}) for i in (0, 1))
    for client in (served_client, refused_client):  # one after the other: scripts in order
        await asyncio.wait_for(client.run(), 10)
    assert gen.protocol == PEER
    assert received == ['40{"account_id":5}', "3", '40{"account_id":5}']
    assert (served_client.ledger.received, gen.deliveries, dict(gen.closes)) == (1, 1, {1000: 1})
    assert gen.errors == {'connect_error {"message":"no"}': 1, "CodecError": 1}
    assert not refused_client.ever_live


async def test_a_stalled_reader_reads_nothing_until_it_reads_again(
    scripted: tuple[str, list[Script]],
) -> None:
    url, scripts = scripted
    stalled, checked = asyncio.Event(), asyncio.Event()
    pong_while_stalled: list[bool] = []

    async def served(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "ready", "offset": 0}))
        await stalled.wait()
        await ws.send(livedesk_event(1))
        pong = asyncio.ensure_future(await ws.ping())
        await asyncio.wait([pong], timeout=0.3)
        pong_while_stalled.append(pong.done())
        checked.set()
        await pong  # answered once the reader reads again
        await ws.close()

    scripts.append(served)
    gen = Generator()
    gen.protocol = LIVEDESK
    client = Client(gen, 0, {"url": url, "account": 1, "token": "t", "slow": True})
    gen.clients = [client]
    run = asyncio.create_task(client.run())
    await asyncio.wait_for(client.live.wait(), 10)
    await gen.stall({"on": True})
    stalled.set()
    await asyncio.wait_for(checked.wait(), 10)
    read_while_stalled = client.ledger.received
    await gen.stall({"on": False})
    await asyncio.wait_for(run, 10)
    assert (pong_while_stalled, read_while_stalled, client.ledger.received) == ([False], 0, 1)
    assert dict(gen.closes) == {1000: 1}
