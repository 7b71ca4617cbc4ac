"""`livedesk api`, `livedesk migrate` and `livedesk bootstrap`: processes, signals, resources.

`serve` opens the engine, starts the broker connection in the background (the API starts
and takes writes with the broker down), and runs uvicorn beside the background work in one
TaskGroup: if the relay dies, the server stops too, rather than serving without a relay.
SIGTERM and SIGINT ask uvicorn to finish its requests, then everything closes in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url

from livedesk.api.accounts import AccountError, create_account
from livedesk.api.app import build_context, create_app, run_background
from livedesk.api.db import is_sqlite, make_engine
from livedesk.api.deferred_bus import DeferredBus
from livedesk.api.migrate import migrate
from livedesk.api.passwords import Passwords
from livedesk.api.workers import reuse_port_socket, supervise
from livedesk.shared.settings import Settings

log = logging.getLogger("livedesk.api")


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # `serve` owns the signals: a stock uvicorn re-raises them and skips cleanup


async def serve(settings: Settings, host: str, port: int, *, reuse_port: bool = False) -> None:
    engine = make_engine(settings.database_url, pool_size=settings.api.db_pool_size)
    bus = DeferredBus()
    try:
        context = build_context(settings, bus, engine)
        config = uvicorn.Config(
            create_app(context),
            host=host,
            port=port,
            loop="none",
            lifespan="off",
            access_log=False,
            log_level=settings.log_level.lower(),
        )
        server = Server(config)
        # Everything built so far lives as long as the process. Frozen, a full collection no
        # longer walks it: gen-2 pauses went from ~75 ms to ~7 ms under write load, and each
        # such pause was a stall of every request and of the relay.
        gc.freeze()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, setattr, server, "should_exit", True)
        # A worker of `--workers N` shares the port with its siblings (see `workers`).
        sockets = [reuse_port_socket(host, port)] if reuse_port else None
        async with asyncio.TaskGroup() as group:
            connecting = group.create_task(
                bus.connect_forever(settings.amqp_url, settings.bus, name=f"livedesk-api-{port}")
            )
            background = group.create_task(run_background(context))
            await server.serve(sockets=sockets)
            background.cancel()
            connecting.cancel()
    finally:
        await engine.dispose()


async def run_migrations(settings: Settings) -> None:
    _ensure_sqlite_dir(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def bootstrap(settings: Settings, account: str, email: str, password: str) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        passwords = Passwords(
            time_cost=settings.api.password_time_cost, memory_kib=settings.api.password_memory_kib
        )
        created = await create_account(
            engine, passwords, name=account, email=email, password=password
        )
    finally:
        await engine.dispose()
    return {"account_id": created.account_id, "user_id": created.user_id}


def _ensure_sqlite_dir(url: str) -> None:
    if is_sqlite(url) and (database := make_url(url).database) and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def run(args: argparse.Namespace) -> int:
    """Entry point for the CLI's api, migrate and bootstrap commands."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.command == "migrate":
        asyncio.run(run_migrations(settings))
        return 0
    if args.command == "bootstrap":
        try:
            result = asyncio.run(bootstrap(settings, args.account, args.email, args.password))
        except AccountError as error:
            sys.stderr.write(f"livedesk bootstrap: {error}\n")
            return 1
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    if args.workers < 1:
        sys.stderr.write("livedesk api: --workers must be at least 1\n")
        return 2
    if args.workers > 1:
        return supervise(args.host, args.port, args.workers)
    import uvloop  # imported here: only the server wants it

    uvloop.run(serve(settings, args.host, args.port, reuse_port=args.reuse_port))
    return 0
