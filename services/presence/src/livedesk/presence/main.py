"""`livedesk presence`: the presence service on RabbitMQ, with its HTTP API on uvicorn.

The service's tasks run as siblings of the uvicorn server in one TaskGroup, so a consumer
that dies takes the server down with it (a deaf presence must not look healthy) and its error
out of `serve`, and the server stopping cancels the tasks. The port is bound first and the
broker given up after `bus.connect_timeout_s`; the token key is loaded while serving (the
HTTP API answers 503 until then) and given up after `presence.jwks_timeout_s`. Signals, exit
codes and the one-line start-up failures are `livedesk.shared.lifecycle`'s: the first SIGTERM
or SIGINT stops the server, then the TaskGroup unwinds and the bus closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Final

import uvicorn

from livedesk.presence.service import PresenceService
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.lifecycle import Shutdown, bind, reaching, redact, run_service
from livedesk.shared.settings import Settings

log = logging.getLogger(__name__)
# Presence answers small lookups: a request still open this long after SIGTERM is a client
# that stopped sending, and must not hold the rollout.
DRAIN_TIMEOUT_S: Final = 5


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the signals are `lifecycle`'s: a stock uvicorn re-raises them past our cleanup


async def serve(service: PresenceService, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve `service.app` on the bound `sock` and run `service` until `stop` or a failure."""
    config = uvicorn.Config(
        service.app,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=DRAIN_TIMEOUT_S,
    )
    server = Server(config)
    failures: list[Exception] = []

    async def run_service() -> None:
        # Not left to the TaskGroup to cancel the server: a cancelled uvicorn skips its
        # shutdown and leaks its listening socket. Ask it to stop, then re-raise below.
        try:
            await service.run()
        except Exception as error:
            failures.append(error)
        finally:
            server.should_exit = True

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    async with asyncio.TaskGroup() as group:
        tasks = group.create_task(run_service(), name="presence")
        watcher = group.create_task(stop_when_asked(), name="presence-stop")
        await server.serve(sockets=[sock])
        tasks.cancel()
        watcher.cancel()
    if failures:
        raise failures[0]


async def _main(settings: Settings, host: str, port: int, shutdown: Shutdown) -> None:
    name = f"presence-{socket.gethostname()}-{os.getpid()}"
    with bind(host, port) as sock:
        async with reaching(
            f"the broker at {redact(settings.amqp_url)}",
            RabbitBus.connect(settings.amqp_url, settings.bus, name=name),
            settings.bus.connect_timeout_s,
        ) as bus:
            stop = asyncio.Event()
            shutdown.serving(stop.set)
            log.info("presence listening on %s:%s", host, port)
            await serve(PresenceService(settings, bus), sock, stop)


def main(host: str, port: int) -> int:
    """`livedesk presence`; the process's exit status (see `livedesk.shared.lifecycle`)."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def run(shutdown: Shutdown) -> None:
        await _main(settings, host, port, shutdown)

    return run_service("presence", run)
