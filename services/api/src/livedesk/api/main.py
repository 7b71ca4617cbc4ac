"""`livedesk api`, `livedesk migrate` and `livedesk bootstrap`: processes, signals, resources.

`serve` binds the port, waits for the database (up to `api.db_connect_timeout_s`), starts
the broker connection in the background (the API starts and takes writes with the broker
down: the outbox keeps the events), and runs uvicorn beside the background work in one
TaskGroup: if the relay dies, the server stops too, rather than serving without a relay.
The first SIGTERM or SIGINT asks uvicorn to finish its requests, then everything closes in
order; start-up failures and exit codes are `livedesk.shared.lifecycle`'s.
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

import uvicorn
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.accounts import AccountError, create_account
from livedesk.api.app import build_context, create_app, run_background
from livedesk.api.db import make_database_directory, make_engine
from livedesk.api.deferred_bus import DeferredBus
from livedesk.api.migrate import migrate
from livedesk.api.passwords import Passwords
from livedesk.api.workers import supervise
from livedesk.shared.lifecycle import (
    STOP_SIGNALS,
    CommandError,
    Shutdown,
    bind,
    reach,
    redact,
    run_once,
    run_service,
)
from livedesk.shared.settings import Settings

log = logging.getLogger("livedesk.api")

# Between attempts to reach a database that is not up yet.
DB_RETRY_INTERVAL_S = 1.0


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the signals are `lifecycle`'s: a stock uvicorn re-raises them past cleanup


class DrainCancellations(logging.Filter):
    """Drops uvicorn's traceback for each request it cancels when the drain times out: that
    cancellation is the drain working, and uvicorn has already said how many in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


async def serve(
    settings: Settings, host: str, port: int, shutdown: Shutdown, *, reuse_port: bool = False
) -> None:
    # A worker of `--workers N` shares the port with its siblings (see `workers`).
    sock = bind(host, port, reuse_port=reuse_port)
    engine = make_engine(settings.database_url, pool_size=settings.api.db_pool_size)
    bus = DeferredBus()
    try:
        await reach_database(engine, settings)
        context = build_context(settings, bus, engine)
        config = uvicorn.Config(
            create_app(context),
            loop="none",
            lifespan="off",
            access_log=False,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=settings.api.drain_timeout_s,
            # The client's address is the peer's, or what `api.trusted_proxies` forward
            # (see `create_app`), never uvicorn's default trust of 127.0.0.1.
            proxy_headers=False,
        )
        logging.getLogger("uvicorn.error").addFilter(DrainCancellations())
        server = Server(config)
        # Everything built so far lives as long as the process. Frozen, a full collection no
        # longer walks it, and that collection's pause stalls every request and the relay.
        gc.freeze()

        def stop_server() -> None:
            server.should_exit = True

        async with asyncio.TaskGroup() as group:
            connecting = group.create_task(
                bus.connect_forever(settings.amqp_url, settings.bus, name=f"livedesk-api-{port}")
            )
            background = group.create_task(run_background(context))
            shutdown.serving(stop_server)
            log.info("api listening on %s:%s", host, port)
            await server.serve(sockets=[sock])
            background.cancel()
            connecting.cancel()
    finally:
        sock.close()
        await engine.dispose()


async def reach_database(engine: AsyncEngine, settings: Settings) -> None:
    """Return once the database answers; past `api.db_connect_timeout_s`, `Unavailable`."""
    what = f"the database at {redact(settings.database_url)}"
    await reach(what, _answering(engine), settings.api.db_connect_timeout_s)


async def _answering(engine: AsyncEngine) -> None:
    # The database may start after us (a compose file, a pod): retry until `reach` gives up.
    while True:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OSError, DBAPIError) as error:
            log.warning("database not reachable yet (%s); retrying", str(error).splitlines()[0])
            await asyncio.sleep(DB_RETRY_INTERVAL_S)
        else:
            return


async def run_migrations(settings: Settings) -> None:
    make_database_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        await reach_database(engine, settings)
        await migrate(engine)
    finally:
        await engine.dispose()


async def bootstrap(settings: Settings, account: str, email: str, password: str) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        await reach_database(engine, settings)
        passwords = Passwords.from_settings(settings.api)
        created = await create_account(
            engine, passwords, name=account, email=email, password=password
        )
    finally:
        await engine.dispose()
    return {"account_id": created.account_id, "user_id": created.user_id}


async def print_bootstrap(settings: Settings, args: argparse.Namespace) -> None:
    try:
        result = await bootstrap(settings, args.account, args.email, args.password)
    except AccountError as error:
        raise CommandError(str(error)) from error
    sys.stdout.write(json.dumps(result) + "\n")


def run(args: argparse.Namespace) -> int:
    """Entry point for the CLI's api, migrate and bootstrap commands; the exit status."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.command == "migrate":
        return run_once("migrate", run_migrations(settings))
    if args.command == "bootstrap":
        return run_once("bootstrap", print_bootstrap(settings, args))
    if args.workers < 1:
        sys.stderr.write("livedesk api: --workers must be at least 1\n")
        return 2
    if args.workers > 1:
        return supervise(args.host, args.port, args.workers)
    import uvloop  # imported here: only the server wants it

    signals: tuple[signal.Signals, ...] = STOP_SIGNALS
    if args.reuse_port:
        # A worker: a terminal's Ctrl-C reaches the whole process group, and the supervisor
        # passes it on as SIGTERM; taking both would count as a second signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signals = (signal.SIGTERM,)

    async def main(shutdown: Shutdown) -> None:
        await serve(settings, args.host, args.port, shutdown, reuse_port=args.reuse_port)

    return run_service("api", main, loop_factory=uvloop.new_event_loop, signals=signals)
