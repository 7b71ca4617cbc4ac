"""Helpers for the API's tests: settings, throwaway databases, an in-process app, a real
`livedesk api` process on a loopback port, and small REST conveniences.
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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from livedesk.api.accounts import create_account
from livedesk.api.app import build_context, create_app, run_background
from livedesk.api.db import make_engine
from livedesk.api.deps import ApiContext
from livedesk.api.migrate import migrate
from livedesk.api.passwords import Passwords
from livedesk.api.store.base import utc_now
from livedesk.shared import routing, topology
from livedesk.shared.bus.base import Bus, Subscription
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.events import PersistentEvent, decode_persistent
from livedesk.shared.settings import ApiSettings, BusSettings, Settings
from livedesk.shared.topology import QueueSpec
from tests.support.ports import free_port

# Cheap argon2 for tests: the cost is a production setting, not what the tests are about.
FAST_PASSWORDS: dict[str, Any] = {"password_time_cost": 1, "password_memory_kib": 8}
PASSWORD = "correct horse battery"


def api_settings(database_url: str, data_dir: Path, **api: Any) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        api=ApiSettings(**{**FAST_PASSWORDS, **api}),
    )


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, uniquely named database on the server; dropped afterwards."""
    name = f"livedesk_t_{uuid.uuid4().hex[:8]}"
    url = make_url(server_url)

    async def admin(statement: str) -> None:
        engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class SettableClock:
    """A store's clock for tests: the time now, or `fixed` while it is set."""

    fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)


@dataclass
class InProcessApi:
    context: ApiContext
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def in_process_api(
    settings: Settings, bus: Bus, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[InProcessApi]:
    """The app on an in-memory transport, with its relay running, on a migrated database."""
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        context = build_context(settings, bus, engine, clock=clock)
        app = create_app(context)
        transport = httpx.ASGITransport(app=app)
        background = asyncio.create_task(run_background(context))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                yield InProcessApi(context, app, client)
        finally:
            background.cancel()
            with_cancel = asyncio.gather(background, return_exceptions=True)
            await with_cancel
    finally:
        await engine.dispose()


def livedesk_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDESK_")}
    # Let the processes cache bytecode: compiling FastAPI and SQLAlchemy from source costs
    # seconds per process start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "LIVEDESK_API__PASSWORD_TIME_COST": "1",
            "LIVEDESK_API__PASSWORD_MEMORY_KIB": "8",
            "LIVEDESK_LOG_LEVEL": "WARNING",
        }
    )
    env.update(settings_env)
    return env


@dataclass
class Deployment:
    """A fresh database with one prepared account, and the environment to run the API on it."""

    database_url: str
    env: dict[str, str]
    account_id: int


@contextmanager
def api_deployment(
    postgres_url: str, amqp_url: str, data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Deployment]:
    with postgres_database(postgres_url) as database_url:
        (account_id,) = asyncio.run(prepare_database(database_url))
        env = livedesk_env(
            {
                "LIVEDESK_DATABASE_URL": database_url,
                "LIVEDESK_AMQP_URL": amqp_url,
                "LIVEDESK_DATA_DIR": str(data_dir),
                **(extra_env or {}),
            }
        )
        yield Deployment(database_url, env, account_id)


def livedesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedesk.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class ApiProcess:
    """`livedesk api` as a real process on a free loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        args: tuple[str, ...] = (),
        log_path: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self._args = args
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log_path = log_path  # where its stderr goes (the log); else the test's stderr
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        log = self._log_path.open("ab") if self._log_path else None
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "livedesk.cli.main",
                    "api",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self._args,
                ],
                env=self._env,
                stderr=log,
                start_new_session=True,  # a group of its own, killed with its workers
            )
        finally:
            if log is not None:
                log.close()  # the child has its own descriptor
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.kill()  # its workers, if any outlived it
                raise RuntimeError(f"livedesk api exited with {self._process.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("livedesk api did not answer /healthz within 30 s")

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def children(self) -> list[int]:
        """The process's child processes (the workers of `--workers N`)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def wait(self, timeout_s: float) -> int:
        assert self._process is not None, "not started"
        return self._process.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL to the process and its workers: no cleanup, no last publish."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, and the exit status; killed (with its workers) if it does not stop."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(15)
        status = self._process.returncode
        self.kill()
        return status

    def __enter__(self) -> ApiProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def spread_account_ids(database_url: str) -> int:
    """Start this database's account ids at a random high number and return it.

    Tests on the shared broker bind `acct.<id>.#`; with ids of their own they never hear
    another test run's account 1.
    """
    start = 1_000_000 + uuid.uuid4().int % 1_000_000_000
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"SELECT setval('accounts_id_seq', {start})"))
    finally:
        await engine.dispose()
    return start + 1


@dataclass
class Tenant:
    """An account, its admin's token, and an inbox and contact to open conversations with."""

    account_id: int
    admin_id: int
    token: str
    inbox_id: int
    contact_id: int

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def make_tenant(
    client: httpx.AsyncClient, email: str, account_id: int, admin_id: int
) -> Tenant:
    token = await login(client, email)
    headers = bearer(token)
    inbox = await client.post("/v1/inboxes", json={"name": "web"}, headers=headers)
    contact = await client.post("/v1/contacts", json={"name": "Customer"}, headers=headers)
    assert inbox.status_code == contact.status_code == 201, (inbox.text, contact.text)
    return Tenant(account_id, admin_id, token, inbox.json()["id"], contact.json()["id"])


async def open_conversation(client: httpx.AsyncClient, tenant: Tenant) -> int:
    response = await client.post(
        "/v1/conversations",
        json={"inbox_id": tenant.inbox_id, "contact_id": tenant.contact_id},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    conversation_id: int = response.json()["id"]
    return conversation_id


class EventCollector:
    """Consumes one account's events from the broker, acking each, in arrival order."""

    def __init__(self, subscription: Subscription) -> None:
        self.received: list[PersistentEvent] = []
        self._subscription = subscription

    async def run(self) -> None:
        async for delivery in self._subscription:
            self.received.append(decode_persistent(delivery.body))
            await self._subscription.ack(delivery)

    async def wait_for(self, count: int, timeout_s: float = 30.0) -> list[PersistentEvent]:
        """Wait until `count` events arrived (or the time is up); return what arrived."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polling keeps the collector free of test plumbing
        await asyncio.sleep(0.3)  # and a moment more, so that a duplicate would show
        return list(self.received)


async def post_messages(
    client: httpx.AsyncClient, tenant: Tenant, conversation: int, count: int, tag: str
) -> None:
    """`count` messages `tag-0`, `tag-1`, ... one after the other, each answered 201."""
    for n in range(count):
        response = await client.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": f"{tag}-{n}"},
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.text


@asynccontextmanager
async def collect_events(
    amqp_url: str, *account_ids: int, durable: bool = False, prefetch: int | None = None
) -> AsyncIterator[EventCollector]:
    """Bind a queue to the accounts' events; durable when it must outlive a broker restart."""
    spec = QueueSpec(
        name=f"livedesk.test.{uuid.uuid4().hex[:10]}",
        durable=durable,
        exclusive=not durable,
        auto_delete=not durable,
        arguments={"x-queue-type": "classic"},
        bindings=tuple((topology.EVENTS, routing.account_pattern(a)) for a in account_ids),
    )
    async with (
        RabbitBus.connect(amqp_url, BusSettings(reconnect_interval_s=0.5), name="test") as bus,
        bus.subscribe(spec, prefetch=prefetch) as subscription,
    ):
        collector = EventCollector(subscription)
        task = asyncio.create_task(collector.run())
        try:
            yield collector
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def prepare_database(database_url: str, accounts: int = 1) -> list[int]:
    """Migrate, spread the account ids (PostgreSQL's, which the shared broker sees), and make
    `accounts` accounts (admin-<n>@...)."""
    engine = make_engine(database_url)
    try:
        await migrate(engine)
        if make_url(database_url).get_backend_name() == "postgresql":
            await spread_account_ids(database_url)
        passwords = Passwords(time_cost=1, memory_kib=8)
        made = []
        for n in range(accounts):
            created = await create_account(
                engine, passwords, name=f"A{n}", email=admin_email(n), password=PASSWORD
            )
            made.append(created.account_id)
        return made
    finally:
        await engine.dispose()


def admin_email(n: int) -> str:
    return f"admin-{n}@tenant.example.org"


def offsets(events: list[PersistentEvent]) -> list[int]:
    return [event.offset for event in events]
