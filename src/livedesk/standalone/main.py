"""Wire the API, presence and one gateway node into one process and serve them on one port.

    /          the inbox page (the API's)   /v1/...   the REST API (and presence's /v1/presence)
    /ws        the WebSocket                 /docs     OpenAPI

The services are the same code the distributed topology runs, with in-process stand-ins for
what crosses the network there: a `MemoryBus` instead of RabbitMQ, SQLite instead of
PostgreSQL, and HTTP calls from the gateway to the API and presence answered by the app
itself through httpx's ASGI transport. Long-lived tasks run as siblings of the server in one
TaskGroup, so if one dies the process stops rather than serving half a system. The port is
bound first; the first SIGTERM or SIGINT sends every socket `reconnect` and 1001, then stops
the server (exit codes: `livedesk.shared.lifecycle`). It listens on loopback unless told
otherwise, and the demo logins get a random password printed at start (`demo_password` fixes
one): a demo left running on a shared network is not an open door. /ws takes the
gateway's origin rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, WebSocket

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
from livedesk.shared.origins import origin_allowed
from livedesk.shared.settings import Settings
from livedesk.standalone import demo
from livedesk.standalone.websocket import StarletteSocket

# The in-process HTTP calls need a base URL; no request ever leaves the process.
IN_PROCESS: str = "http://livedesk.standalone"
# A refused upgrade: closing before `accept` makes uvicorn answer HTTP 403.
CLOSE_POLICY_VIOLATION = 1008


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the signals are `lifecycle`'s: drain the sockets, stop the server, unwind


def standalone_settings(data_dir: Path | None) -> Settings:
    """The environment's settings with what one process needs; `data_dir` (the command
    line's) wins over `LIVEDESK_DATA_DIR`."""
    settings = Settings()
    data_dir = (data_dir or settings.data_dir).resolve()
    return settings.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{data_dir / 'livedesk.db'}",
            "data_dir": data_dir,
            "node_id": "standalone",
            "api_url": IN_PROCESS,
            "presence_url": IN_PROCESS,
            "api": settings.api.model_copy(update={"demo": True}),
        }
    )


def mount_socket(app: FastAPI, node: Node, allowed_origins: tuple[str, ...]) -> None:
    @app.websocket("/ws")
    async def websocket(websocket: WebSocket) -> None:
        headers = websocket.headers
        if not origin_allowed(headers.get("origin"), headers.get("host"), allowed_origins):
            await websocket.close(CLOSE_POLICY_VIOLATION)
            return
        await websocket.accept()
        socket = StarletteSocket(websocket)
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(socket.send_forever())
            await node.handle(socket)
            sender.cancel()


async def serve(host: str, port: int, settings: Settings, shutdown: Shutdown) -> None:
    sock = bind(host, port)
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
            mount_socket(app, node, settings.allowed_origins)
            background = [
                group.create_task(run_background(context), name="api"),
                group.create_task(presence.run(), name="presence"),
            ]
            password = demo_password(settings)
            created = await demo.ensure_demo(engine, context.passwords, local, password)
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
                # Only once the port answers; the password only when it is the data's.
                announce(host, port, settings.data_dir, password if created else None)
            await serving
            for task in background:
                task.cancel()
    finally:
        sock.close()
        await engine.dispose()


def demo_password(settings: Settings) -> str:
    if settings.demo_password is not None:
        return settings.demo_password.get_secret_value()
    return secrets.token_urlsafe(12)  # 96 bits: not guessable, short enough to type


def announce(host: str, port: int, data_dir: Path, password: str | None) -> None:
    """`password`: the demo logins' when this start created them; None: the data existed,
    and its passwords are the ones printed then (only their hashes are stored)."""
    state = "created a demo account" if password else "using the existing data"
    said = f"password: {password}" if password else "the password printed when it was created"
    lines = [
        f"Livedesk standalone: http://{host}:{port}/  (data in {data_dir}, {state})",
        f"  WebSocket ws://{host}:{port}/ws   REST http://{host}:{port}/v1   docs /docs",
        f"  demo logins ({said}):",
        *(f"    {login.email:<28} {login.role}" for login in demo.LOGINS),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def run(host: str, port: int, data_dir: str | None) -> int:
    """`livedesk standalone`; the process's exit status (see `livedesk.shared.lifecycle`)."""
    import uvloop  # a dependency of the services; only the server wants it

    settings = standalone_settings(Path(data_dir) if data_dir else None)

    async def main(shutdown: Shutdown) -> None:
        await serve(host, port, settings, shutdown)

    return run_service("standalone", main, loop_factory=uvloop.new_event_loop)
