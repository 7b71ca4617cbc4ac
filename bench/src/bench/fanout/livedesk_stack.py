"""Livedesk's real topology on loopback, as a bench `Target`.

A fresh PostgreSQL database, `livedesk migrate`, then `livedesk api`, `livedesk presence` and
two `livedesk gateway` processes on free ports, all against the given RabbitMQ (the setup is
`livedesk_setup`'s). Accounts: the first with the `livedesk bootstrap` command, the rest
with `create_account` in-process; each readied over REST.
Deliberately not here: the workloads; the gateways' tuning (they run with their defaults).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import httpx

from bench.fanout.livedesk_setup import (
    CLI,
    PASSWORD,
    Database,
    create_accounts,
    fresh_database,
    migrate,
    prepare_account,
    service_env,
    start_gateways,
    start_service,
)
from bench.fanout.procs import ProcessGroup, free_port
from bench.fanout.targets import Account, Counters, Node

SETUP_CONCURRENCY: Final = 16
CREATE_BATCH: Final = 200  # accounts made on one engine, then readied together
BINDS: Final = 'livedesk_gateway_bind_operations_total{op="bind"}'
UNBINDS: Final = 'livedesk_gateway_bind_operations_total{op="unbind"}'
_METRIC = re.compile(r"^(livedesk_gateway_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", re.MULTILINE)


class LivedeskTarget:
    name = "livedesk"
    protocol = "livedesk"

    def __init__(
        self, group: ProcessGroup, amqp_url: str, postgres_url: str, node_count: int = 2
    ) -> None:
        self._group, self._amqp_url, self._node_count = group, amqp_url, node_count
        self._postgres_url = postgres_url
        self._resources = contextlib.AsyncExitStack()
        self._database: Database | None = None
        self._nodes: list[Node] = []
        self._helpers: dict[str, Node] = {}
        self._accounts: list[Account] = []
        self._http: httpx.AsyncClient | None = None
        self.api_url = ""
        self.env: dict[str, str] = {}

    async def start(self) -> None:
        database = await self._resources.enter_async_context(fresh_database(self._postgres_url))
        self._database = database
        data_dir = self._resources.enter_context(
            tempfile.TemporaryDirectory(prefix="livedesk-bench-")
        )
        api_port, presence_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = {
            **service_env(database, self._amqp_url, Path(data_dir)),
            "LIVEDESK_API_URL": self.api_url,
            "LIVEDESK_PRESENCE_URL": f"http://127.0.0.1:{presence_port}",
        }
        await migrate(self._group, self.env)
        for name, port in (("api", api_port), ("presence", presence_port)):
            process = await start_service(self._group, name, port, self.env)
            self._helpers[name] = Node(name, port, process)
        self._nodes = await start_gateways(self._group, self._node_count, self.env)
        self._http = httpx.AsyncClient(base_url=self.api_url, timeout=60)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        for node in [*self._nodes, *self._helpers.values()]:
            await self._group.stop(node.process)
        self._nodes.clear()
        self._helpers.clear()
        await self._resources.aclose()

    def nodes(self) -> list[Node]:
        return self._nodes

    def helper_pids(self) -> dict[str, int]:
        return {name: node.process.pid for name, node in self._helpers.items()}

    async def accounts(self, count: int) -> list[Account]:
        if (missing := count - len(self._accounts)) > 0:
            self._accounts += await self._create_batched(len(self._accounts), missing)
        return self._accounts[:count]

    async def bus_accounts(self, count: int) -> list[Account]:
        return await self._create_batched(10_000_000 + secrets.randbelow(10**6) * 10_000, count)

    async def _create_batched(self, first: int, count: int) -> list[Account]:
        # Created one by one (an engine, a bootstrap and five requests each, ~69 ms),
        # sparse's 2,000 bus accounts took ~140 s before its sockets connected.
        created: list[Account] = []
        while len(created) < count:
            batch = min(count - len(created), CREATE_BATCH)
            created += await self._create(first + len(created), batch)
        return created

    async def _create(self, first: int, count: int) -> list[Account]:
        http, database = self._http, self._database
        assert http is not None
        assert database is not None
        emails = [f"bench{first + i}-{secrets.token_hex(3)}@bench.example" for i in range(count)]
        ids = []
        if first == 0:  # the first account through the command users run
            ids.append(await self._bootstrap_cli(emails[0]))
        ids += await create_accounts(database, emails[len(ids) :])
        slots = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def ready(account_id: int, email: str) -> Account:
            async with slots:
                return await prepare_account(http, account_id, email)

        return list(await asyncio.gather(*(ready(a, e) for a, e in zip(ids, emails, strict=True))))

    async def _bootstrap_cli(self, email: str) -> int:
        argv = [*CLI, "bootstrap", "--account", email, "--email", email, "--password", PASSWORD]
        process = await self._group.start("livedesk-bootstrap", argv, self.env, pipes=True)
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"livedesk bootstrap failed ({process.returncode})")
        return int(json.loads(out.decode().strip().splitlines()[-1])["account_id"])

    def publisher_init(self, mode: str, accounts: list[Account]) -> dict[str, Any]:
        return livedesk_publisher_init(mode, self._amqp_url, self.api_url, accounts)

    def publish_mode(self, preferred: str) -> str:
        return preferred

    async def counters(self) -> Counters:
        return await gateway_counters(self._nodes)


def livedesk_publisher_init(
    mode: str, amqp_url: str, api_url: str, accounts: list[Account]
) -> dict[str, Any]:
    """The publisher's `init` for Livedesk gateways, in `rest` or `bus` mode."""
    return {
        "mode": mode,
        "amqp_url": amqp_url,
        "api_url": api_url,
        "accounts": {
            str(a.id): {"token": a.token, "conversation_id": a.conversation_id,
                        "offset": a.offset}
            for a in accounts
        },
    }  # fmt: skip


async def gateway_counters(nodes: Iterable[Node]) -> Counters:
    """What Livedesk gateways count of themselves, from their /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        totals = await metric_totals(http, [node.port for node in nodes])
    return Counters(
        binds=totals.get(BINDS, 0.0),
        unbinds=totals.get(UNBINDS, 0.0),
        too_slow_closes=totals.get('livedesk_gateway_closes_total{code="4409"}', 0.0),
        foreign_messages=totals.get("livedesk_gateway_foreign_messages_total", 0.0),
        extra=totals,
    )


async def metric_totals(http: httpx.AsyncClient, ports: Iterable[int]) -> dict[str, float]:
    """Every livedesk_gateway_* sample, by name and labels, summed over the nodes on `ports`."""
    totals: dict[str, float] = {}
    for port in ports:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
        for name, labels, value in _METRIC.findall(response.text):
            key = name + (labels or "")
            totals[key] = totals.get(key, 0.0) + float(value)
    return totals
