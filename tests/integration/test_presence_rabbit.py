"""Presence as real processes on a real RabbitMQ, with simulated gateway nodes.

The gateway is built elsewhere, so each "node" here is a task that sends what a gateway
sends on livedesk.presence.in - connection opened/closed, typing, and a full snapshot every
heartbeat interval - through RabbitBus; "killing" a node stops all of that at once, as a
SIGKILL would. Presence runs as `python -m livedesk.cli.main presence` on loopback ports and
is observed through a queue bound on livedesk.ephemeral and through its HTTP API.

These tests run on the `private_rabbit` node, so the shared broker's livedesk.presence queue
(which other engineers' processes may be consuming) is never touched; the queue is deleted
before and after each test so no test sees another's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import httpx
import pytest

from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.events import AgentStatusChanged, Typing, TypingState, decode
from livedesk.shared.presence_messages import (
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    PresenceMessage,
    SocketRef,
    TypingSignal,
    encode_message,
)
from livedesk.shared.tokens import Role, TokenSigner, ensure_key_pair, load_private_key
from livedesk.shared.topology import QueueSpec
from tests.support.ports import free_port
from tests.support.private_rabbit import PrivateRabbit

pytestmark = pytest.mark.rabbit

INTERVAL_S = 0.3  # short heartbeats keep these tests fast; the logic is the same at 5 s
GRACE_S = 1.0
TTL_S = 1.5
WAIT_S = 20.0  # the bound on every wait: generous, since the machine is shared


def now() -> datetime:
    return datetime.now(UTC)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - polling other processes' state
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class PresenceProcess:
    """One `livedesk presence` process; its output goes to a file the test can show."""

    def __init__(
        self, amqp_url: str, key_dir: Path, name: str, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = key_dir / f"{name}.log"
        env = {
            **os.environ,
            "LIVEDESK_AMQP_URL": amqp_url,
            "LIVEDESK_TOKENS__PUBLIC_KEY_PATH": str(key_dir / "token_ed25519.pub.pem"),
            "LIVEDESK_GATEWAY__HEARTBEAT_INTERVAL_S": str(INTERVAL_S),
            "LIVEDESK_PRESENCE__OFFLINE_GRACE_S": str(GRACE_S),
            "LIVEDESK_PRESENCE__TYPING_TTL_S": str(TTL_S),
            "LIVEDESK_PRESENCE__TICK_INTERVAL_S": "0.05",
            **(extra_env or {}),
        }
        command = [sys.executable, "-m", "livedesk.cli.main", "presence", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        async def ready() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get(f"{self.url}/readyz")).status_code == 200
            return False

        async with asyncio.timeout(WAIT_S):
            while not await ready():
                assert self.process.poll() is None, self.output()
                await asyncio.sleep(0.1)

    async def metrics(self, client: httpx.AsyncClient) -> dict[str, float]:
        text = (await client.get(f"{self.url}/metrics")).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Node:
    """A simulated gateway node: its sockets, its heartbeats, its death."""

    bus: RabbitBus
    name: str
    sockets: dict[str, SocketRef] = field(default_factory=dict)
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    seq: int = 0
    task: asyncio.Task[None] | None = None

    async def send(self, message: PresenceMessage) -> None:
        body = encode_message(message)
        await self.bus.publish(Message(topology.PRESENCE_IN, routing.node_key(message), body))

    async def heartbeat(self, *, seq: int | None = None) -> None:
        self.seq += 1
        beat = NodeHeartbeat(
            node=self.name,
            sent_at=now(),
            seq=self.seq if seq is None else seq,
            epoch=self.epoch,
            interval_s=INTERVAL_S,
            sockets=tuple(self.sockets.values()),
        )
        await self.send(beat)

    def start(self) -> None:
        async def beat() -> None:
            while True:
                await self.heartbeat()
                await asyncio.sleep(INTERVAL_S)

        self.task = asyncio.create_task(beat())

    async def kill(self) -> None:
        """Go silent at once, as a SIGKILLed gateway does: no closes, no more heartbeats."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def open(self, socket_id: str, account: int, user: int) -> None:
        self.sockets[socket_id] = SocketRef(socket_id=socket_id, account_id=account, user_id=user)
        await self.send(
            ConnectionOpened(node=self.name, sent_at=now(), socket=self.sockets[socket_id])
        )

    async def close(self, socket_id: str) -> None:
        socket = self.sockets.pop(socket_id)
        await self.send(ConnectionClosed(node=self.name, sent_at=now(), socket=socket))

    async def typing(self, socket_id: str, conversation: int, state: str) -> None:
        signal = TypingSignal(
            node=self.name,
            sent_at=now(),
            socket=self.sockets[socket_id],
            conversation_id=conversation,
            state=TypingState(state),
        )
        await self.send(signal)


@dataclass
class World:
    rabbit: PrivateRabbit
    bus: RabbitBus
    client: httpx.AsyncClient
    key_dir: Path
    account: int
    events: list[AgentStatusChanged | Typing]
    processes: list[PresenceProcess] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)

    async def presence(self, name: str) -> PresenceProcess:
        process = self.start_presence(name)
        await process.wait_ready(self.client)
        return process

    def start_presence(self, name: str, extra_env: dict[str, str] | None = None) -> PresenceProcess:
        process = PresenceProcess(self.rabbit.url, self.key_dir, name, extra_env)
        self.processes.append(process)
        return process

    async def view(self, process: PresenceProcess) -> dict[str, object]:
        answer = await self.client.get(f"{process.url}/v1/presence", headers=self.token())
        assert answer.status_code == 200, answer.text
        view: dict[str, object] = answer.json()
        return view

    def node(self) -> Node:
        node = Node(self.bus, f"gw-{uuid.uuid4().hex[:8]}")
        self.nodes.append(node)
        return node

    def token(self, account: int | None = None, user: int = 1) -> dict[str, str]:
        signer = TokenSigner(
            load_private_key(self.key_dir / "token_ed25519.pem"), issuer="livedesk", ttl_s=600
        )
        token = signer.issue(user_id=user, account_id=account or self.account, role=Role.AGENT)
        return {"Authorization": f"Bearer {token}"}

    def statuses(self, user: int) -> list[str]:
        return [
            e.status.value
            for e in self.events
            if isinstance(e, AgentStatusChanged) and e.user_id == user
        ]

    def typings(self, user: int) -> list[str]:
        return [e.state.value for e in self.events if isinstance(e, Typing) and e.user_id == user]

    async def active(self, process: PresenceProcess) -> bool:
        metrics = await process.metrics(self.client)
        return metrics.get("presence_active_consumer") == 1.0


async def _delete_presence_queue(url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(topology.PRESENCE_QUEUE)


@pytest.fixture
async def world(private_rabbit: PrivateRabbit, tmp_path: Path) -> AsyncIterator[World]:
    await _delete_presence_queue(private_rabbit.url)
    ensure_key_pair(tmp_path)
    account = int(uuid.uuid4().int % 1_000_000) + 1
    events: list[AgentStatusChanged | Typing] = []
    spec = QueueSpec(
        f"test.presence.events.{uuid.uuid4().hex[:8]}",
        durable=False,
        exclusive=True,
        auto_delete=True,
        bindings=((topology.EPHEMERAL, routing.account_pattern(account)),),
    )
    async with (
        RabbitBus.connect(private_rabbit.url, name="test-presence") as bus,
        bus.subscribe(spec) as subscription,
        httpx.AsyncClient(timeout=5.0) as client,
    ):

        async def observe() -> None:
            async for delivery in subscription:
                event = decode(delivery.body)
                assert isinstance(event, AgentStatusChanged | Typing)
                events.append(event)
                await subscription.ack(delivery)

        observer = asyncio.create_task(observe())
        world = World(private_rabbit, bus, client, tmp_path, account, events)
        try:
            yield world
        finally:
            observer.cancel()
            for node in world.nodes:
                await node.kill()
            for process in world.processes:
                process.stop()
    await _delete_presence_queue(private_rabbit.url)


@contextlib.contextmanager
def shown_on_failure(world: World) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for process in world.processes:
            sys.stderr.write(f"--- presence :{process.port}\n{process.output()[-4000:]}\n")
        raise


async def test_agent_on_two_nodes_stays_online_until_the_last_node_dies(world: World) -> None:
    with shown_on_failure(world):
        presence = await world.presence("p1")
        first, second = world.node(), world.node()
        first.start()
        second.start()
        metrics = presence.metrics
        user = 11
        await first.open("tab-1", world.account, user)
        await first.open("tab-2", world.account, user)  # two tabs on one node
        await second.open("phone", world.account, user)  # and a phone on the other
        await until(lambda: world.statuses(user) == ["online"], "online")

        await first.kill()

        async def first_is_dead() -> bool:
            return (await metrics(world.client)).get("presence_node_deaths_total", 0.0) >= 1

        await until_async(first_is_dead, "the first node declared dead")
        # Give a wrong offline every chance to appear: the grace period and then some.
        await asyncio.sleep(GRACE_S + 3 * INTERVAL_S)
        assert world.statuses(user) == ["online"]
        view = await world.client.get(f"{presence.url}/v1/presence", headers=world.token())
        assert view.json()["agents"] == {str(user): "online"}

        killed_at = time.monotonic()
        await second.kill()
        await until(lambda: "offline" in world.statuses(user), "offline")
        took = time.monotonic() - killed_at
        sys.stderr.write(f"offline announced {took:.2f} s after the last node died\n")
        assert took >= GRACE_S  # never before the grace period has run out
        await asyncio.sleep(GRACE_S + 3 * INTERVAL_S)  # a second offline would show by now
        assert world.statuses(user) == ["online", "offline"]
        view = await world.client.get(f"{presence.url}/v1/presence", headers=world.token())
        assert view.json()["agents"] == {}


async def test_standby_takes_over_without_false_offline_and_typing_still_ends(
    world: World,
) -> None:
    with shown_on_failure(world):
        first = await world.presence("p1")
        node_a, node_b = world.node(), world.node()
        node_a.start()
        node_b.start()
        await until_async(lambda: world.active(first), "p1 active")
        second = await world.presence("p2")
        assert not await world.active(second)  # it builds the same state, and publishes nothing

        user, conversation = 21, 5
        await node_a.open("laptop", world.account, user)
        await node_b.open("phone", world.account, user)
        await until(lambda: world.statuses(user) == ["online"], "online")

        typing = True

        async def keep_typing() -> None:
            while typing:  # a client repeats `start` while its user types
                await node_a.typing("laptop", conversation, "start")
                await asyncio.sleep(TTL_S / 3)

        typist = asyncio.create_task(keep_typing())
        await until(lambda: world.typings(user) == ["start"], "typing start")

        killed_at = time.monotonic()
        first.process.send_signal(signal.SIGKILL)
        await until_async(lambda: world.active(second), "p2 active")
        took_over = time.monotonic() - killed_at
        sys.stderr.write(
            f"standby active {took_over:.2f} s after SIGKILL ({took_over / INTERVAL_S:.1f} "
            "heartbeat intervals)\n"
        )
        await asyncio.sleep(2 * INTERVAL_S)  # keep typing across the takeover
        typing = False
        await typist
        await until(lambda: "stop" in world.typings(user), "typing stop")
        # Warm-up, grace and the TTL are all over by now: anything false would have shown.
        await asyncio.sleep(GRACE_S + TTL_S + 3 * INTERVAL_S)
        assert world.statuses(user) == ["online"]
        assert world.typings(user).count("stop") == 1
        assert world.typings(user)[-1] == "stop"
        view = await world.client.get(f"{second.url}/v1/presence", headers=world.token())
        assert view.json() == {
            "account_id": world.account,
            "agents": {str(user): "online"},
            "typing": {},
        }


async def test_two_replicas_answer_alike_and_the_standby_takes_over_warm(world: World) -> None:
    with shown_on_failure(world):
        first = await world.presence("p1")
        node_a, node_b = world.node(), world.node()
        node_a.start()
        node_b.start()
        await until_async(lambda: world.active(first), "p1 active")
        second = await world.presence("p2")  # ready: it has seen a heartbeat round

        user, conversation = 41, 6
        await node_a.open("laptop", world.account, user)
        await node_b.open("phone", world.account, user)
        await node_a.typing("laptop", conversation, "start")
        expected = {
            "account_id": world.account,
            "agents": {str(user): "online"},
            "typing": {str(conversation): [user]},
        }

        async def both_answer(view: dict[str, object]) -> bool:
            return await world.view(first) == view and await world.view(second) == view

        await until_async(lambda: both_answer(expected), "both replicas answer alike")
        await until(lambda: world.typings(user) == ["start"], "typing start")
        # Both decided the same events; the standby kept its own to itself.
        assert world.statuses(user) == ["online"]
        assert world.typings(user) == ["start"]
        assert not await world.active(second)
        withheld = (await second.metrics(world.client))["presence_withheld_events_total"]
        assert withheld >= 2

        first.process.send_signal(signal.SIGKILL)
        assert await world.view(second) == expected  # nothing to rebuild
        await until_async(lambda: world.active(second), "p2 active")
        # No stop was sent: the typing expires at its TTL, announced by the survivor.
        await until(lambda: world.typings(user) == ["start", "stop"], "typing expiry")
        await node_b.close("phone")
        await node_a.close("laptop")
        await until(lambda: world.statuses(user) == ["online", "offline"], "offline")
        gone = {"account_id": world.account, "agents": {}, "typing": {}}
        assert await world.view(second) == gone

        # A replica started now knows nothing until the nodes' snapshots tell it: it is not
        # ready before, and ready with the same answer as the replica that saw it all.
        await node_a.open("tablet", world.account, user)
        await until(lambda: world.statuses(user)[-1] == "online", "online again")
        again = {**gone, "agents": {str(user): "online"}}
        third = world.start_presence("p3", {"LIVEDESK_PRESENCE__WARMUP_HEARTBEATS": "4"})
        not_ready = await until_ready(world, third)
        warming = {"status": "not_ready", "consuming": True, "built": False}
        assert any(warming.items() <= answer.items() for answer in not_ready), not_ready
        assert await world.view(third) == await world.view(second) == again
        await asyncio.sleep(3 * INTERVAL_S)
        assert world.statuses(user) == ["online", "offline", "online"]  # nothing twice
        assert world.typings(user) == ["start", "stop"]


async def until_ready(world: World, process: PresenceProcess) -> list[dict[str, object]]:
    """Poll /readyz until it answers 200; every answer it gave before (the not-ready ones)."""
    answers: list[dict[str, object]] = []

    async def ready() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            answer = await world.client.get(f"{process.url}/readyz")
            if answer.status_code == 200:
                return True
            answers.append(answer.json())
        assert process.process.poll() is None, process.output()
        return False

    await until_async(ready, "ready")
    return answers


async def test_bad_input_is_dropped_and_presence_keeps_running(world: World) -> None:
    with shown_on_failure(world):
        presence = await world.presence("p1")
        node = world.node()
        node.start()
        await until_async(lambda: world.active(presence), "active")
        raw = Message(topology.PRESENCE_IN, "node.bogus.connection_opened", b"\x00not json")
        await world.bus.publish(raw)
        await until(lambda: node.seq >= 2, "a second heartbeat")
        await node.heartbeat(seq=1)  # stale: that node is past seq 1
        await until_async(lambda: not_warming(world, presence), "warm-up over", timeout_s=WAIT_S)
        stranger = Node(world.bus, "gw-never-seen")
        stranger.sockets["s"] = SocketRef(socket_id="s", account_id=world.account, user_id=3)
        await stranger.close("s")  # from a node nobody has heard of

        await node.open("s1", world.account, 31)
        await until(lambda: world.statuses(31) == ["online"], "online after bad input")
        metrics = await presence.metrics(world.client)
        assert metrics['presence_dropped_total{reason="malformed"}'] == 1
        assert metrics['presence_dropped_total{reason="stale_heartbeat"}'] == 1
        assert metrics['presence_dropped_total{reason="unknown_node"}'] == 1
        assert presence.process.poll() is None

        # The HTTP API: only the caller's account, only with a valid token.
        assert (await world.client.get(f"{presence.url}/v1/presence")).status_code == 401
        forged = {"Authorization": "Bearer not.a.token"}
        answer = await world.client.get(f"{presence.url}/v1/presence", headers=forged)
        assert (answer.status_code, answer.json()["code"]) == (401, "token_invalid")
        other = await world.client.get(
            f"{presence.url}/v1/presence", headers=world.token(account=world.account + 1)
        )
        assert other.json()["agents"] == {}

        # SIGTERM: a clean stop, status 0.
        presence.process.send_signal(signal.SIGTERM)
        assert presence.process.wait(timeout=WAIT_S) == 0, presence.output()


async def not_warming(world: World, process: PresenceProcess) -> bool:
    return (await process.metrics(world.client)).get("presence_warming") == 0.0


async def until_async(
    condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_S
) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not await condition():  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
