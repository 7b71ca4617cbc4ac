"""Livedesk's real topology on loopback, as a bench `Target`.

A fresh PostgreSQL database (`livedesk_bench_<hex>`, dropped at the end), `livedesk migrate`,
then `livedesk api`, `livedesk presence` and two `livedesk gateway` processes on free ports,
all against the given RabbitMQ. Accounts: the first with the `livedesk bootstrap` command,
the rest with `create_account` in-process, the function that command runs (a process start
per account would dominate a 2,000-account setup); then, over REST, a token (POST
/v1/auth/token), an inbox, a contact and a conversation per account. argon2 is set to its
cheapest cost here, as ApiSettings says benchmarks may: token requests are setup, not what
is measured.
Deliberately not here: the workloads; the gateways' tuning (they run with their defaults).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import tempfile
from collections.abc import Iterable
from typing import Any, Final

import asyncpg
import httpx

from bench.fanout.procs import ProcessGroup, free_port, wait_port
from bench.fanout.targets import Account, Counters, Node

PASSWORD: Final = "bench-password-1"
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
        self._server_url = postgres_url  # postgresql://user@host:port/postgres
        self.database = f"livedesk_bench_{secrets.token_hex(4)}"
        self._tmp = tempfile.TemporaryDirectory(prefix="livedesk-bench-")
        self._nodes: list[Node] = []
        self._helpers: dict[str, Node] = {}
        self._accounts: list[Account] = []
        self._http: httpx.AsyncClient | None = None
        self.api_url = ""
        self.env: dict[str, str] = {}

    def _db_url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        base = self._server_url.split("://", 1)[1].rsplit("/", 1)[0]
        return f"{driver}://{base}/{database}"

    async def start(self) -> None:
        connection = await asyncpg.connect(self._db_url("postgres", "postgresql"))
        try:
            await connection.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await connection.close()
        api_port, presence_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = {
            "LIVEDESK_DATABASE_URL": self._db_url(self.database),
            "LIVEDESK_AMQP_URL": self._amqp_url,
            "LIVEDESK_API_URL": self.api_url,
            "LIVEDESK_PRESENCE_URL": f"http://127.0.0.1:{presence_port}",
            "LIVEDESK_DATA_DIR": self._tmp.name,
            "LIVEDESK_LOG_LEVEL": "WARNING",
            "LIVEDESK_API__PASSWORD_TIME_COST": "1",
            "LIVEDESK_API__PASSWORD_MEMORY_KIB": "8",
            # Every socket of an account here is its one admin's: hundreds of one user's
            # sockets on a node are the load, not a runaway client.
            "LIVEDESK_GATEWAY__MAX_SOCKETS_PER_USER": "1000000",
        }
        cli = [sys.executable, "-m", "livedesk.cli.main"]
        migrate = await self._group.start("livedesk-migrate", [*cli, "migrate"], self.env)
        if await migrate.wait() != 0:
            raise RuntimeError("livedesk migrate failed: see its log under bench/results/")
        for name, port in (("api", api_port), ("presence", presence_port)):
            argv = [*cli, name, "--host", "127.0.0.1", "--port", str(port)]
            process = await self._group.start(f"livedesk-{name}", argv, self.env)
            self._helpers[name] = Node(name, port, process)
            await wait_port(port, process, 60)
        tag = secrets.token_hex(3)
        for index in range(self._node_count):
            port, node_id = free_port(), f"bench-{tag}-{index}"
            argv = [*cli, "gateway", "--host", "127.0.0.1", "--port", str(port)]
            process = await self._group.start(
                f"livedesk-gateway-{index}", [*argv, "--node-id", node_id], self.env
            )
            self._nodes.append(Node(node_id, port, process, f"ws://127.0.0.1:{port}"))
        for node in self._nodes:
            await wait_port(node.port, node.process, 60)
        self._http = httpx.AsyncClient(base_url=self.api_url, timeout=60)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        for node in [*self._nodes, *self._helpers.values()]:
            await self._group.stop(node.process)
        self._nodes.clear()
        self._helpers.clear()
        connection = await asyncpg.connect(self._db_url("postgres", "postgresql"))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await connection.close()
        self._tmp.cleanup()

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
        emails = [f"bench{first + i}-{secrets.token_hex(3)}@bench.example" for i in range(count)]
        ids = []
        if first == 0:  # the first account through the command users run
            ids.append(await self._bootstrap_cli(emails[0]))
        ids += await self._bootstrap_fn(emails[len(ids) :])
        slots = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def ready(account_id: int, email: str) -> Account:
            async with slots:
                return await self._prepare(account_id, email)

        return list(await asyncio.gather(*(ready(a, e) for a, e in zip(ids, emails, strict=True))))

    async def _bootstrap_cli(self, email: str) -> int:
        argv = [sys.executable, "-m", "livedesk.cli.main", "bootstrap", "--account", email]
        process = await self._group.start(
            "livedesk-bootstrap", [*argv, "--email", email, "--password", PASSWORD], self.env,
            pipes=True,
        )  # fmt: skip
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"livedesk bootstrap failed ({process.returncode})")
        return int(json.loads(out.decode().strip().splitlines()[-1])["account_id"])

    async def _bootstrap_fn(self, emails: list[str]) -> list[int]:
        """What `livedesk bootstrap` does (`create_account`), on one engine for the batch."""
        if not emails:
            return []
        from livedesk.api.accounts import create_account
        from livedesk.api.db import make_engine
        from livedesk.api.passwords import Passwords

        engine = make_engine(self.env["LIVEDESK_DATABASE_URL"])
        passwords = Passwords(time_cost=1, memory_kib=8)
        slots = asyncio.Semaphore(8)

        async def one(email: str) -> int:
            async with slots:
                created = await create_account(
                    engine, passwords, name=email, email=email, password=PASSWORD
                )
                return created.account_id

        try:
            return list(await asyncio.gather(*(one(email) for email in emails)))
        finally:
            await engine.dispose()

    async def _prepare(self, account_id: int, email: str) -> Account:
        http = self._http
        assert http is not None
        token = (await self._post(http, "/v1/auth/token", None, email=email, password=PASSWORD))[
            "access_token"
        ]
        inbox = await self._post(http, "/v1/inboxes", token, name="bench")
        contact = await self._post(http, "/v1/contacts", token, name="bench contact")
        conversation = await self._post(
            http, "/v1/conversations", token, inbox_id=inbox["id"], contact_id=contact["id"]
        )
        response = await http.get(
            "/v1/events", params={"after": 0, "limit": 1}, headers=_bearer(token)
        )
        response.raise_for_status()
        return Account(account_id, token, conversation["id"], response.json()["latest_offset"])

    @staticmethod
    async def _post(
        http: httpx.AsyncClient, path: str, token: str | None, **body: Any
    ) -> dict[str, Any]:
        response = await http.post(path, json=body, headers=_bearer(token) if token else None)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:200]}")
        result: dict[str, Any] = response.json()
        return result

    def publisher_init(self, mode: str, accounts: list[Account]) -> dict[str, Any]:
        return {
            "mode": mode,
            "amqp_url": self._amqp_url,
            "api_url": self.api_url,
            "accounts": {
                str(a.id): {"token": a.token, "conversation_id": a.conversation_id,
                            "offset": a.offset}
                for a in accounts
            },
        }  # fmt: skip

    def publish_mode(self, preferred: str) -> str:
        return preferred

    async def counters(self) -> Counters:
        async with httpx.AsyncClient(timeout=10) as http:
            totals = await metric_totals(http, [node.port for node in self._nodes])
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


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
