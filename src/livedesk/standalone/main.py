"""Wire the API, presence and one gateway node into one process and serve them on one port.

    /          the inbox UI            /v1/...       the REST API (and presence's /v1/presence)
    /ws        the WebSocket            /docs         OpenAPI

The services are the same code the distributed topology runs, with in-process stand-ins for
what crosses the network there: a `MemoryBus` instead of RabbitMQ, SQLite instead of
PostgreSQL, and HTTP calls from the gateway to the API and presence answered by the app
itself through httpx's ASGI transport. Long-lived tasks run as siblings of the server in one
TaskGroup, so if one dies the process stops rather than serving half a system. The port is
bound first; the first SIGTERM or SIGINT sends every socket `reconnect` and 1001, then stops
the server (exit codes: `livedesk.shared.lifecycle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse

from livedesk.api.app import build_context, create_app, run_background
from livedesk.api.db import make_engine
from livedesk.api.main import run_migrations
from livedesk.gateway.api_client import HttpApiClient
from livedesk.gateway.main import gateway_node
from livedesk.gateway.node import Node
from livedesk.gateway.presence_client import HttpPresenceLookup
from livedesk.presence.service import PresenceService
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.lifecycle import Shutdown, bind, run_service
from livedesk.shared.settings import Settings
from livedesk.standalone import demo
from livedesk.standalone.websocket import StarletteSocket

# The in-process HTTP calls need a base URL; no request ever leaves the process.
IN_PROCESS: str = "http://livedesk.standalone"


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the signals are `lifecycle`'s: drain the sockets, stop the server, unwind


def standalone_settings(data_dir: Path) -> Settings:
    data_dir = data_dir.resolve()
    return Settings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'livedesk.db'}",
        data_dir=data_dir,
        node_id="standalone",
        api_url=IN_PROCESS,
        presence_url=IN_PROCESS,
    )


def mount_ui_and_socket(app: FastAPI, node: Node) -> None:
    page = files("livedesk.standalone").joinpath("ui/index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def inbox() -> HTMLResponse:
        return HTMLResponse(page)

    @app.websocket("/ws")
    async def websocket(websocket: WebSocket) -> None:
        await websocket.accept()
        socket = StarletteSocket(websocket)
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(socket.send_forever())
            await node.handle(socket)
            sender.cancel()


async def serve(host: str, port: int, data_dir: Path, shutdown: Shutdown) -> None:
    sock = bind(host, port)
    settings = standalone_settings(data_dir)
    engine = make_engine(settings.database_url)
    bus = MemoryBus()
    try:
        await run_migrations(settings)
        context = build_context(settings, bus, engine)
        app = create_app(context)
        presence = PresenceService(settings, bus, verifier=context.verifier)
        app.include_router(presence.router)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url=IN_PROCESS) as local,
            gateway_node(
                bus,
                settings,
                context.verifier,
                HttpApiClient(local, IN_PROCESS),
                HttpPresenceLookup(local, IN_PROCESS),
            ) as node,
            asyncio.TaskGroup() as group,
        ):
            mount_ui_and_socket(app, node)
            background = [
                group.create_task(run_background(context), name="api"),
                group.create_task(presence.run(), name="presence"),
            ]
            created = await demo.ensure_demo(engine, context.passwords, local)
            server = Server(
                uvicorn.Config(
                    # Who the client is: the API's `trusted_proxies`, not uvicorn's default.
                    app,
                    lifespan="off",
                    log_level="warning",
                    proxy_headers=False,
                )
            )

            async def drain_then_stop() -> None:
                await node.drain(0.0)  # one node: no other to spread its sockets over
                server.should_exit = True

            shutdown.serving(lambda: group.create_task(drain_then_stop(), name="drain"))
            serving = group.create_task(server.serve(sockets=[sock]), name="server")
            # uvicorn offers a flag, not an event, for "listening".
            while not (server.started or serving.done()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if server.started:
                announce(host, port, data_dir, created)  # only once the port answers
            await serving
            for task in background:
                task.cancel()
    finally:
        sock.close()
        await engine.dispose()


def announce(host: str, port: int, data_dir: Path, created: bool) -> None:
    state = "created a demo account" if created else "using the existing data"
    lines = [
        f"Livedesk standalone: http://{host}:{port}/  (data in {data_dir}, {state})",
        f"  WebSocket ws://{host}:{port}/ws   REST http://{host}:{port}/v1   docs /docs",
        "  demo logins (password: " + demo.PASSWORD + "):",
        *(f"    {login.email:<28} {login.role}" for login in demo.LOGINS),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def run(host: str, port: int, data_dir: str) -> int:
    """`livedesk standalone`; the process's exit status (see `livedesk.shared.lifecycle`)."""
    import uvloop  # a dependency of the services; only the server wants it

    async def main(shutdown: Shutdown) -> None:
        await serve(host, port, Path(data_dir), shutdown)

    return run_service("standalone", main, loop_factory=uvloop.new_event_loop)
