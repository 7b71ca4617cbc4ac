"""What the workloads run against: a `Target` is a set of server nodes plus how to reach them.

Both targets answer the same questions: the node processes (whose CPU and memory are the
figures), the client specs for some accounts (URLs spread round-robin over the nodes), how
the publisher reaches them, and counters that only one side has (Livedesk's bind operations
and 4409 closes from /metrics). `PeerTarget` is here; `LivedeskTarget` is in livedesk_stack.
Deliberately not here: the workloads themselves.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol

import aio_pika

from bench.fanout.procs import ProcessGroup, free_port, wait_port


@dataclass
class Account:
    id: int
    token: str | None = None
    conversation_id: int = 1
    offset: int = 0  # the account's latest offset when it was handed out


@dataclass
class Node:
    name: str
    port: int
    process: asyncio.subprocess.Process
    url: str = ""


@dataclass
class Counters:
    """What a target can tell about itself beyond CPU and memory (absent: None)."""

    binds: float | None = None
    unbinds: float | None = None
    too_slow_closes: float | None = None
    foreign_messages: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Target(Protocol):
    name: str
    protocol: str  # the load generator's protocol: "peer" or "livedesk"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def nodes(self) -> list[Node]: ...

    def helper_pids(self) -> dict[str, int]:
        """Processes that are not socket nodes (Livedesk's api, presence), for information."""
        ...

    async def accounts(self, count: int) -> list[Account]:
        """`count` accounts ready for sockets; the same ones again on the next call."""
        ...

    async def bus_accounts(self, count: int) -> list[Account]:
        """`count` accounts of their own for publishing straight onto the bus (Livedesk only),
        new on every call."""
        ...

    def publisher_init(self, mode: str, accounts: list[Account]) -> dict[str, Any]: ...

    def publish_mode(self, preferred: str) -> str: ...

    async def counters(self) -> Counters: ...


def client_specs(
    target: Target, accounts: list[Account], sockets: int, slow: int = 0
) -> list[dict[str, Any]]:
    """`sockets` clients over `accounts` round-robin; the first `slow` are slow readers.

    Nodes are chosen so that both the accounts and each account's sockets are spread over
    every node (account i's k-th socket goes to node (i + k) mod n); slow readers go to node 0,
    and come back to it when they resume, so that every stall lands on the same node.
    """
    urls = [node.url for node in target.nodes()]
    specs = []
    for index in range(sockets):
        position, round_ = index % len(accounts), index // len(accounts)
        account = accounts[position]
        node = 0 if index < slow else (position + round_) % len(urls)
        specs.append(
            {
                "url": urls[node],
                # Reconnects go to the next node.
                "urls": urls[:1] if index < slow else urls[node:] + urls[:node],
                "account": account.id,
                "token": account.token,
                "slow": index < slow,
            }
        )
    return specs


class PeerTarget:
    """Two python-socketio nodes (uvicorn) sharing an AsyncAioPikaManager channel."""

    name = "peer"
    protocol = "peer"

    def __init__(self, group: ProcessGroup, amqp_url: str, node_count: int = 2) -> None:
        self._group, self._amqp_url, self._node_count = group, amqp_url, node_count
        # A channel (fanout exchange) of its own, so nothing else on the broker interferes.
        self.channel = f"livedesk-bench-{secrets.token_hex(4)}"
        self._nodes: list[Node] = []

    async def start(self) -> None:
        for index in range(self._node_count):
            port = free_port()
            name = f"peer-{index}"
            argv = [sys.executable, "-m", "bench.fanout.peer", "--port", str(port)]
            argv += ["--amqp-url", self._amqp_url, "--channel", self.channel]
            process = await self._group.start(name, argv)
            self._nodes.append(Node(name, port, process, f"ws://127.0.0.1:{port}"))
        for node in self._nodes:
            await wait_port(node.port, node.process, 60)
        # python-socketio's manager starts listening on its first request; let it settle.
        await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for node in self._nodes:
            await self._group.stop(node.process)
        self._nodes.clear()
        # The manager's queues are server-named with a 5-minute x-expires; the exchange we
        # remove now, the queues expire by themselves.
        connection = await aio_pika.connect(self._amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(self.channel)

    def nodes(self) -> list[Node]:
        return self._nodes

    def helper_pids(self) -> dict[str, int]:
        return {}

    async def accounts(self, count: int) -> list[Account]:
        return [Account(id=index + 1) for index in range(count)]

    async def bus_accounts(self, count: int) -> list[Account]:
        first = 900_000 + secrets.randbelow(max(1, 99_999 - count))
        return [Account(id=first + index) for index in range(count)]

    def publisher_init(self, mode: str, accounts: list[Account]) -> dict[str, Any]:
        return {
            "mode": "peer",
            "amqp_url": self._amqp_url,
            "channel": self.channel,
            "accounts": {str(a.id): {} for a in accounts},
        }

    def publish_mode(self, preferred: str) -> str:
        return "peer"

    async def counters(self) -> Counters:
        return Counters()
