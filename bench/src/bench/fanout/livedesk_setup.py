"""What a bench needs of a Livedesk deployment before it measures: a database of its own, the
services' environment and processes, and accounts ready to post to and connect with.

Shared by the fan-out bench's real topology (`livedesk_stack`) and the API's write bench
(`bench.api_writes`). Accounts are made with `create_account` in-process, the function
`livedesk bootstrap` runs (a process start per account would dominate a 2,000-account setup),
then readied over REST like a user would: a token, an inbox, a contact and a conversation.
argon2 runs at its cheapest cost, as ApiSettings says benchmarks may: token requests are
setup, not what is measured.
Deliberately not here: the processes' lifetimes (procs.ProcessGroup), and what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx

from bench.fanout.procs import ProcessGroup, free_port, wait_port
from bench.fanout.targets import Account, Node

PASSWORD: Final = "bench-password-1"
CLI: Final = (sys.executable, "-m", "livedesk.cli.main")
START_TIMEOUT_S: Final = 60.0
# Every socket of an account in the benches is its one admin's: hundreds of one user's sockets
# on a node are the load, not a runaway client.
GATEWAY_ENV: Final = {"LIVEDESK_GATEWAY__MAX_SOCKETS_PER_USER": "1000000"}


def default_amqp_url() -> str:
    return os.environ.get("LIVEDESK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def default_postgres_url() -> str:
    """A PostgreSQL server whose user may create databases (any database of it names it)."""
    return os.environ.get(
        "LIVEDESK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )


@dataclass(frozen=True)
class Database:
    server: str  # user@host:port
    name: str

    @property
    def url(self) -> str:
        """As Livedesk's settings take it (SQLAlchemy's asyncpg dialect)."""
        return f"postgresql+asyncpg://{self.server}/{self.name}"

    @property
    def dsn(self) -> str:
        """As asyncpg takes it."""
        return f"postgresql://{self.server}/{self.name}"


@contextlib.asynccontextmanager
async def fresh_database(postgres_url: str) -> AsyncIterator[Database]:
    """A new database `livedesk_bench_<hex>` on the server of `postgres_url`, dropped at exit."""
    server = postgres_url.split("://", 1)[1].rsplit("/", 1)[0]
    database = Database(server, f"livedesk_bench_{secrets.token_hex(4)}")
    admin = Database(server, "postgres")
    connection = await asyncpg.connect(admin.dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{database.name}"')
    finally:
        await connection.close()
    try:
        yield database
    finally:
        connection = await asyncpg.connect(admin.dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
        finally:
            await connection.close()


def service_env(database: Database, amqp_url: str, data_dir: Path) -> dict[str, str]:
    """What every Livedesk process of a bench runs with."""
    return {
        "LIVEDESK_DATABASE_URL": database.url,
        "LIVEDESK_AMQP_URL": amqp_url,
        "LIVEDESK_DATA_DIR": str(data_dir),
        "LIVEDESK_LOG_LEVEL": "WARNING",
        "LIVEDESK_API__PASSWORD_TIME_COST": "1",
        "LIVEDESK_API__PASSWORD_MEMORY_KIB": "8",
    }


async def migrate(group: ProcessGroup, env: dict[str, str]) -> None:
    process = await group.start("livedesk-migrate", [*CLI, "migrate"], env)
    if await process.wait() != 0:
        raise RuntimeError("livedesk migrate failed: see its log under bench/results/")


async def start_service(
    group: ProcessGroup,
    command: str,
    port: int,
    env: dict[str, str],
    *extra: str,
    name: str = "",
) -> asyncio.subprocess.Process:
    """`livedesk <command>` on 127.0.0.1:`port`, once it accepts connections."""
    argv = [*CLI, command, "--host", "127.0.0.1", "--port", str(port), *extra]
    process = await group.start(name or f"livedesk-{command}", argv, env)
    await wait_port(port, process, START_TIMEOUT_S)
    return process


async def start_gateways(group: ProcessGroup, count: int, env: dict[str, str]) -> list[Node]:
    """`count` `livedesk gateway` nodes, started together, once each accepts connections."""
    tag = secrets.token_hex(3)
    nodes = []
    for index in range(count):
        port, node_id = free_port(), f"bench-{tag}-{index}"
        argv = [*CLI, "gateway", "--host", "127.0.0.1", "--port", str(port), "--node-id", node_id]
        process = await group.start(f"livedesk-gateway-{index}", argv, {**env, **GATEWAY_ENV})
        nodes.append(Node(node_id, port, process, f"ws://127.0.0.1:{port}"))
    for node in nodes:
        await wait_port(node.port, node.process, START_TIMEOUT_S)
    return nodes


async def create_accounts(database: Database, emails: Sequence[str]) -> list[int]:
    """What `livedesk bootstrap` does (`create_account`), on one engine for them all."""
    if not emails:
        return []
    from livedesk.api.accounts import create_account
    from livedesk.api.db import make_engine
    from livedesk.api.passwords import Passwords

    engine = make_engine(database.url)
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


async def prepare_account(http: httpx.AsyncClient, account_id: int, email: str) -> Account:
    """A token of the account's admin, a conversation to post to, and its latest offset."""
    token = (await _post(http, "/v1/auth/token", None, email=email, password=PASSWORD))[
        "access_token"
    ]
    inbox = await _post(http, "/v1/inboxes", token, name="bench")
    contact = await _post(http, "/v1/contacts", token, name="bench contact")
    conversation = await _post(
        http, "/v1/conversations", token, inbox_id=inbox["id"], contact_id=contact["id"]
    )
    response = await http.get("/v1/events", params={"after": 0, "limit": 1}, headers=bearer(token))
    response.raise_for_status()
    return Account(account_id, token, conversation["id"], response.json()["latest_offset"])


async def _post(
    http: httpx.AsyncClient, path: str, token: str | None, **body: Any
) -> dict[str, Any]:
    response = await http.post(path, json=body, headers=bearer(token) if token else None)
    if response.status_code >= 300:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:200]}")
    result: dict[str, Any] = response.json()
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
