"""Where the page bench's inbox is served from, seeded before it starts.

- `standalone`: `livedesk standalone` on a fresh data directory (SQLite, the in-process bus),
  the README's first command.
- `dev`: `livedesk dev` on a fresh PostgreSQL database and the broker's default vhost: api,
  presence and two gateways behind its proxy, the topology a deployment runs.

Either way the seed is written first, through the API's store (`seed`); the server then finds
an account and makes no demo one. Deliberately not here: what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from bench.fanout.livedesk_setup import default_amqp_url, default_postgres_url, fresh_database
from bench.fanout.procs import ProcessGroup, free_port, wait_port
from bench.inbox_page.seed import Seeded, seed_inbox

CLI: Final = (sys.executable, "-m", "livedesk.cli.main")
START_TIMEOUT_S: Final = 120.0
DEV_READY: Final = re.compile(r"inbox (http://\S+)")
ENV: Final = {
    "LIVEDESK_LOG_LEVEL": "WARNING",
    "LIVEDESK_API__PASSWORD_TIME_COST": "1",
    "LIVEDESK_API__PASSWORD_MEMORY_KIB": "8",
}


async def seed(database_url: str, conversations: int, messages: int) -> Seeded:
    """The database at `database_url`, migrated and seeded."""
    from livedesk.api.db import make_engine
    from livedesk.api.migrate import migrate

    engine = make_engine(database_url)
    try:
        await migrate(engine)
        return await seed_inbox(engine, conversations=conversations, long_messages=messages)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def standalone(
    out_dir: Path, conversations: int, messages: int
) -> AsyncIterator[tuple[str, Seeded]]:
    """The base URL and the seed; `out_dir/data` must exist."""
    data = out_dir / "data"
    seeded = await seed(f"sqlite+aiosqlite:///{data / 'livedesk.db'}", conversations, messages)
    port = free_port()
    argv = [*CLI, "standalone", "--port", str(port), "--data-dir", str(data)]
    group = ProcessGroup(out_dir)
    try:
        server = await group.start("livedesk-standalone", argv, ENV)
        await wait_port(port, server, START_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}", seeded
    finally:
        await group.close()


@contextlib.asynccontextmanager
async def dev(
    out_dir: Path, conversations: int, messages: int
) -> AsyncIterator[tuple[str, Seeded]]:
    """The proxy's base URL and the seed; the database is dropped afterwards."""
    async with fresh_database(default_postgres_url()) as database:
        seeded = await seed(database.url, conversations, messages)
        port = _free_run_of_ports(5)  # the proxy, api, presence and two gateways
        argv = [*CLI, "dev", "--port", str(port), "--amqp-url", default_amqp_url(),
                "--database-url", database.url, "--data-dir", str(out_dir / "dev")]  # fmt: skip
        group = ProcessGroup(out_dir)
        try:
            stack = await group.start("livedesk-dev", argv, {**ENV, "NO_COLOR": "1"})
            log = out_dir / "livedesk-dev.log"
            async with asyncio.timeout(START_TIMEOUT_S):
                while not DEV_READY.search(log.read_text(errors="replace")):
                    if stack.returncode is not None:
                        raise RuntimeError(f"livedesk dev exited: see {log}")
                    await asyncio.sleep(0.2)
            yield f"http://127.0.0.1:{port}", seeded
        finally:
            await group.close()


def _free_run_of_ports(count: int) -> int:
    """`count` consecutive free ports below the kernel's ephemeral range (32768 up): there,
    another process's outgoing connection cannot take one between this check and the
    stack's start."""
    while True:
        port = random.randrange(20_000, 32_000 - count)
        with contextlib.ExitStack() as probes:
            try:
                for offset in range(count):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
