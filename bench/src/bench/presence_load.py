"""Presence under load: 50,000 simulated sockets across 10 simulated nodes.

    .venv/bin/python -m bench.presence_load [--sockets 50000] [--nodes 10] [--storm-s 10]

Prints:
1. heartbeat snapshot cost (decode + apply), first round (all new) and steady rounds;
2. transitions per second, in the state machine alone and through the consumer on the
   memory bus (encode, publish, consume, decode, apply, publish the events);
3. memory per tracked socket (tracemalloc, state only, after the snapshots are applied);
4. typing expiry drift while snapshots of all sockets are processed back to back:
   typing entries keep falling due while the service chews on the heartbeats; the lateness
   of each expiry is what the state records (aim: < 500 ms).

The memory bus keeps the broker out of the figures: they are presence's own costs. Runs in
one process on the machine's loopback-free memory; it is bounded by --storm-s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from livedesk.presence.decoding import Snapshot, decode
from livedesk.presence.service import PresenceService
from livedesk.presence.state import PresenceState
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Message
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.events import TypingState
from livedesk.shared.presence_messages import (
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    PresenceMessage,
    SocketRef,
    TypingSignal,
    encode_message,
)
from livedesk.shared.settings import GatewaySettings, PresenceSettings, Settings
from livedesk.shared.tokens import TokenVerifier
from livedesk.shared.topology import QueueSpec

ACCOUNTS = 100
SOCKETS_PER_AGENT = 2.5  # tabs and devices: most agents have more than one socket


def sockets_of(node: int, count: int) -> tuple[SocketRef, ...]:
    return tuple(
        SocketRef(
            socket_id=f"gw{node:02d}-{i:07d}",
            account_id=1 + int((node * count + i) / SOCKETS_PER_AGENT) % ACCOUNTS,
            user_id=1 + int((node * count + i) / SOCKETS_PER_AGENT),
        )
        for i in range(count)
    )


def beat(node: int, seq: int, sockets: tuple[SocketRef, ...], interval_s: float) -> Message:
    message = NodeHeartbeat(
        node=f"gw{node:02d}",
        sent_at=datetime.now(UTC),
        seq=seq,
        epoch="bench",
        interval_s=interval_s,
        sockets=sockets,
    )
    return _wrap(message)


async def apply_body(state: PresenceState, message: Message) -> None:
    decoded = await decode(message.body)
    assert isinstance(decoded, Snapshot)
    state.apply_heartbeat(decoded.beat, decoded.sockets)


async def snapshots(total: int, nodes: int) -> None:
    per_node = total // nodes
    settings = PresenceSettings()
    state = PresenceState(settings, time.monotonic, assumed_interval_s=5.0)
    refs = [sockets_of(n, per_node) for n in range(nodes)]
    for round_no, label in ((1, "first round (all new)"), (2, "steady round (no change)")):
        bodies = [beat(n, round_no, refs[n], 5.0) for n in range(nodes)]
        started = time.perf_counter()
        for body in bodies:
            await apply_body(state, body)
        took = time.perf_counter() - started
        print(
            f"  {label}: {nodes} x {per_node} sockets in {took * 1000:.0f} ms "
            f"({took / nodes * 1000:.0f} ms per node snapshot, {len(bodies[0].body) / 1e6:.2f} MB)"
        )
    one = beat(99, 1, sockets_of(99, total), 5.0)
    started = time.perf_counter()
    await apply_body(state, one)
    print(
        f"  one node with all {total} sockets ({len(one.body) / 1e6:.1f} MB): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )


def memory(total: int, nodes: int) -> None:
    per_node = total // nodes
    bodies = [beat(n, 1, sockets_of(n, per_node), 5.0) for n in range(nodes)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = PresenceState(PresenceSettings(), time.monotonic, assumed_interval_s=5.0)
    for body in bodies:
        asyncio.run(apply_body(state, body))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"  {state.socket_count} sockets, {state.agents_online} agents: "
        f"{(after - before) / 1e6:.1f} MB, {(after - before) / state.socket_count:.0f} B per socket"
    )


def transitions_in_state(agents: int) -> None:
    clock = [0.0]
    state = PresenceState(
        PresenceSettings(offline_grace_s=1.0), lambda: clock[0], assumed_interval_s=5.0
    )
    now = datetime.now(UTC)
    refs = [
        SocketRef(socket_id=f"s{i}", account_id=1 + i % ACCOUNTS, user_id=i + 1)
        for i in range(agents)
    ]
    opened = [ConnectionOpened(node="gw00", sent_at=now, socket=r) for r in refs]
    closed = [ConnectionClosed(node="gw00", sent_at=now, socket=r) for r in refs]
    started = time.perf_counter()
    events = sum(len(state.handle(m)) for m in opened)
    for m in closed:
        state.handle(m)
    clock[0] += 10.0  # past warm-up (1.5 heartbeat intervals) and the grace period
    events += len(state.tick())
    took = time.perf_counter() - started
    print(
        f"  state machine: {events} transitions ({agents} online + {agents} offline) "
        f"in {took:.2f} s = {events / took:,.0f} transitions/s"
    )


async def transitions_through_consumer(agents: int) -> None:
    bus = MemoryBus()
    settings = Settings(
        presence=PresenceSettings(offline_grace_s=0.0, tick_interval_s=0.01),
        gateway=GatewaySettings(heartbeat_interval_s=0.2),  # a short warm-up to wait out
    )
    service = PresenceService(settings, bus, verifier=_no_verifier())
    spec = QueueSpec("bench.events", False, True, True, bindings=((topology.EPHEMERAL, "#"),))
    now = datetime.now(UTC)
    refs = [
        SocketRef(socket_id=f"s{i}", account_id=1 + i % ACCOUNTS, user_id=i + 1)
        for i in range(agents)
    ]
    messages: list[PresenceMessage] = [
        *(ConnectionOpened(node="gw-load", sent_at=now, socket=r) for r in refs),
        *(ConnectionClosed(node="gw-load", sent_at=now, socket=r) for r in refs),
    ]
    bodies = [_wrap(m) for m in messages]
    async with bus.subscribe(spec) as events, asyncio.TaskGroup() as group:
        runner = group.create_task(service.run())
        await poll(lambda: service.consumer.subscribed)
        await bus.publish(beat(0, 1, (), 0.2))
        await poll(lambda: not service.state.warming)  # offline is held back in warm-up
        started = time.perf_counter()
        await bus.publish_many(bodies)
        received = 0
        while received < 2 * agents:
            received += len(await events.next_batch(10_000))
        took = time.perf_counter() - started
        runner.cancel()
    print(
        f"  consumer on the memory bus: {received} transitions from {len(bodies)} messages "
        f"in {took:.2f} s = {received / took:,.0f} transitions/s"
    )


async def drift(total: int, nodes: int, storm_s: float) -> None:
    bus = MemoryBus()
    settings = Settings(
        presence=PresenceSettings(typing_ttl_s=1.0, offline_grace_s=GRACE_S),
        gateway=GatewaySettings(heartbeat_interval_s=60.0),  # the typist's node never dies
    )
    service = PresenceService(settings, bus, verifier=_no_verifier())
    per_node = total // nodes
    refs = [sockets_of(n, per_node) for n in range(nodes)]
    # The worst case: one node holding all the sockets, and every other round all of them
    # are new (as after a restart): 50,000 closes and 50,000 opens in one snapshot.
    big = [sockets_of(99, total), sockets_of(98, total)]
    # On a node of its own that sends no snapshot: its indicators end by expiry only.
    typist = SocketRef(socket_id="typist", account_id=1, user_id=999_999)
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(service.run())
        await poll(lambda: service.consumer.subscribed)
        await bus.publish(
            _wrap(ConnectionOpened(node="gw-typist", sent_at=datetime.now(UTC), socket=typist))
        )

        async def typing_starts() -> None:
            conversation = 0
            while True:  # a new indicator every 20 ms, each expiring after its TTL
                conversation += 1
                signal = TypingSignal(
                    node="gw-typist",
                    sent_at=datetime.now(UTC),
                    socket=typist,
                    conversation_id=conversation,
                    state=TypingState.START,
                )
                await bus.publish(_wrap(signal))
                await asyncio.sleep(0.02)

        typer = group.create_task(typing_starts())
        # Encoded once, outside the storm: the service, not this producer, is measured.
        templates = [beat(n, PLACEHOLDER_SEQ, refs[n], NODE_INTERVAL_S) for n in range(nodes)]
        templates += [beat(99, PLACEHOLDER_SEQ, s, NODE_INTERVAL_S) for s in big]
        seq, rounds, started, expected = 0, 0, time.monotonic(), 0
        # Then the big node goes silent: it dies, and after the grace period all its agents
        # go offline in one tick, while indicators keep expiring.
        death_s = 3 * NODE_INTERVAL_S + GRACE_S + 1.0
        while (elapsed := time.monotonic() - started) < storm_s + death_s:
            seq += 1
            bodies = [with_seq(templates[n], seq) for n in range(nodes)]
            if elapsed < storm_s:
                bodies.append(with_seq(templates[nodes + seq % 2], seq))
                rounds += 1
            await bus.publish_many(bodies)
            expected += len(bodies)
            # Wait for the consumer to get through them, as a real queue would pace it.
            await poll(partial(applied, service, expected))
            await asyncio.sleep(0.05)
        typer.cancel()
        await asyncio.sleep(1.5)  # let the last indicators expire
        runner.cancel()
    stats = service.state.stats
    lags = sorted(stats.expiry_lags_s)
    p99 = lags[int(len(lags) * 0.99) - 1]
    print(
        f"  {rounds} rounds of {nodes} x {per_node} + 1 x {total} sockets (all new every "
        f"other round) in {storm_s:.0f} s, then that node dies: {stats.node_deaths} death, "
        f"{stats.transitions['offline']} agents offline at once"
    )
    print(
        f"  {len(lags)} typing expiries: median {statistics.median(lags) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms late; "
        f"offline expiry at most {stats.offline_lag_max_s * 1000:.0f} ms late"
    )


PLACEHOLDER_SEQ = 987654321
GRACE_S = 2.0
# Short enough that warm-up (1.5 intervals) is over early in the storm, so snapshot changes
# are announced; long enough that no node dies between rounds.
NODE_INTERVAL_S = 1.0


def with_seq(template: Message, seq: int) -> Message:
    marker = f'"seq":{PLACEHOLDER_SEQ}'.encode()
    body = template.body.replace(marker, f'"seq":{seq}'.encode(), 1)
    return Message(template.exchange, template.routing_key, body)


def applied(service: PresenceService, heartbeats: int) -> bool:
    return service.state.stats.heartbeats >= heartbeats


async def poll(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - the service's counters have no event to wait on
        await asyncio.sleep(0.01)


def _wrap(message: PresenceMessage) -> Message:
    return Message(topology.PRESENCE_IN, routing.node_key(message), encode_message(message))


def _no_verifier() -> TokenVerifier:
    # The HTTP API is not exercised here; a key keeps the service from fetching a JWKS.
    return TokenVerifier(Ed25519PrivateKey.generate().public_key(), issuer="livedesk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=50_000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--agents", type=int, default=20_000, help="for the transition runs")
    parser.add_argument("--storm-s", type=float, default=10.0)
    args = parser.parse_args()
    print(f"presence_load: {args.sockets} sockets across {args.nodes} nodes")
    print("heartbeat snapshots (decode + apply):")
    asyncio.run(snapshots(args.sockets, args.nodes))
    print("transitions per second:")
    transitions_in_state(args.agents)
    asyncio.run(transitions_through_consumer(args.agents))
    print("memory per tracked socket:")
    memory(args.sockets, args.nodes)
    print("typing expiry drift while snapshots are processed:")
    asyncio.run(drift(args.sockets, args.nodes, args.storm_s))


if __name__ == "__main__":
    main()
