"""`livedesk presence`: the presence service on RabbitMQ, with its HTTP API on uvicorn.

The service's tasks run as siblings of the uvicorn server in one TaskGroup, so a consumer
that dies takes the server down with it (a deaf presence must not look healthy) and its error
out of `serve`, and the server stopping cancels the tasks. SIGTERM and SIGINT are ours: they
ask the server to stop, then the TaskGroup unwinds and the bus closes, instead of uvicorn
re-raising the signal past our cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator

import uvicorn

from livedesk.presence.service import PresenceService
from livedesk.shared.bus.base import Bus
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.settings import Settings

log = logging.getLogger(__name__)


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # `serve` owns the signals: stop the server, then unwind the tasks


async def serve(service: PresenceService, *, host: str, port: int) -> None:
    """Serve `service.app` and run `service` until a signal or until either fails."""
    config = uvicorn.Config(
        service.app, host=host, port=port, lifespan="off", log_config=None, access_log=False
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

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = group.create_task(run_service(), name="presence")
            await server.serve()
            tasks.cancel()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    if failures:
        raise failures[0]


async def run(settings: Settings, bus: Bus, *, host: str, port: int) -> None:
    await serve(PresenceService(settings, bus), host=host, port=port)


async def _main(settings: Settings, host: str, port: int) -> None:
    name = f"presence-{socket.gethostname()}-{os.getpid()}"
    async with RabbitBus.connect(settings.amqp_url, settings.bus, name=name) as bus:
        await run(settings, bus, host=host, port=port)


def main(host: str, port: int) -> int:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_main(settings, host, port))
    except Exception:  # the task boundary of the whole service: log it, exit non-zero
        log.exception("presence stopped on an error")
        return 1
    log.info("presence stopped")
    return 0
