"""`livedesk dev`: provision, start the services, put the proxy in front, report the URL.

SIGHUP rolls the gateways, one at a time, as a Kubernetes rolling update does: each drains
(its sockets are told `reconnect` and resume on the other) and is started again.

Ports: the proxy on PORT, the api on PORT+1, presence on PORT+2, the gateways on PORT+3 and
PORT+4, all on 127.0.0.1. The first Ctrl-C stops the proxy and sends each service one
SIGTERM (gateways drain, the api finishes its requests); a second ends everything at once.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import uvicorn

from livedesk.api.db import make_engine
from livedesk.api.main import run_migrations
from livedesk.api.passwords import Passwords
from livedesk.devstack.processes import Output, Service, Supervisor
from livedesk.devstack.provision import demo_login, ensure_database, ensure_vhost, save_login
from livedesk.devstack.proxy import Proxy, Upstreams
from livedesk.shared.lifecycle import Shutdown, Unavailable, bind, redact, run_service
from livedesk.shared.settings import Settings
from livedesk.standalone import demo
from livedesk.standalone.main import Server

HOST: Final = "127.0.0.1"
READY_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True)
class Plan:
    port: int
    amqp_url: str
    database_url: str
    data_dir: Path
    management_url: str | None

    def url(self, offset: int) -> str:
        return f"http://{HOST}:{self.port + offset}"

    @property
    def settings(self) -> Settings:
        return Settings(
            database_url=self.database_url,
            amqp_url=self.amqp_url,
            api_url=self.url(1),
            presence_url=self.url(2),
            data_dir=self.data_dir,
        )

    def services(self) -> list[Service]:
        origins = f"http://{HOST}:{self.port},http://localhost:{self.port}"
        shared = {
            "LIVEDESK_DATABASE_URL": self.database_url,
            "LIVEDESK_AMQP_URL": self.amqp_url,
            "LIVEDESK_API_URL": self.url(1),
            "LIVEDESK_PRESENCE_URL": self.url(2),
            "LIVEDESK_DATA_DIR": str(self.data_dir),
            "LIVEDESK_ALLOWED_ORIGINS": origins,
            "LIVEDESK_API__DEMO": "true",
        }

        def command(*args: str) -> list[str]:
            return [sys.executable, "-m", "livedesk.cli.main", *args, "--host", HOST]

        return [
            Service("api", command("api", "--port", str(self.port + 1)), shared),
            Service("presence", command("presence", "--port", str(self.port + 2)), shared),
            *(
                Service(
                    f"gateway-{n}",
                    command("gateway", "--port", str(self.port + 2 + n), "--node-id", f"dev-{n}"),
                    shared,
                    restart=True,
                )
                for n in (1, 2)
            ),
        ]

    def upstreams(self) -> Upstreams:
        gateways = [f"ws://{HOST}:{self.port + 3}", f"ws://{HOST}:{self.port + 4}"]
        return Upstreams(api=self.url(1), presence=self.url(2), gateways=gateways)


async def provision(plan: Plan) -> None:
    await ensure_vhost(plan.amqp_url, plan.management_url)
    await ensure_database(plan.database_url)
    await run_migrations(plan.settings)


async def wait_ready(http: httpx.AsyncClient, urls: list[str]) -> None:
    async def ready(url: str) -> None:
        while True:
            try:
                if (await http.get(url + "/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)

    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await asyncio.gather(*(ready(url) for url in urls))
    except TimeoutError:
        raise Unavailable(f"the services were not ready within {READY_TIMEOUT_S:.0f} s") from None


async def roll_gateways(
    plan: Plan, supervisor: Supervisor, http: httpx.AsyncClient, output: Output
) -> None:
    for n in (1, 2):
        output.line("dev", f"rolling gateway-{n}")
        await supervisor.replace(f"gateway-{n}")
        await wait_ready(http, [plan.url(2 + n)])
    output.line("dev", "gateways rolled")


async def ensure_demo(plan: Plan, http: httpx.AsyncClient) -> tuple[str, str | None]:
    """The demo admin's e-mail and, when known, password (kept in the data directory)."""
    login, new = demo_login(plan.data_dir)
    settings = plan.settings
    engine = make_engine(plan.database_url, pool_size=1)
    passwords = Passwords(
        time_cost=settings.api.password_time_cost, memory_kib=settings.api.password_memory_kib
    )
    try:
        api = httpx.AsyncClient(base_url=plan.url(1), timeout=30)
        async with api:
            created = await demo.ensure_demo(engine, passwords, api, login.password)
    finally:
        await engine.dispose()
    if created:
        save_login(plan.data_dir, login)
        return demo.ADMIN.email, login.password
    return demo.ADMIN.email, None if new else login.password


async def serve(plan: Plan, shutdown: Shutdown) -> None:
    sock = bind(HOST, plan.port)
    try:
        await run_stack(plan, shutdown, sock)
    finally:
        sock.close()


async def run_stack(plan: Plan, shutdown: Shutdown, sock: socket.socket) -> None:
    services = plan.services()
    output = Output(sys.stdout, [service.name for service in services])
    output.line("dev", f"broker {redact(plan.amqp_url)}, database {redact(plan.database_url)}")
    await provision(plan)
    supervisor = Supervisor(services, output)
    async with httpx.AsyncClient(timeout=None) as http, asyncio.TaskGroup() as group:
        # The proxy's client: no timeout, since a response may stream for as long as it must.
        running = group.create_task(supervisor.run(), name="services")
        proxy = Server(
            uvicorn.Config(Proxy(plan.upstreams(), http), lifespan="off", log_level="warning")
        )

        def stop() -> None:
            proxy.should_exit = True
            supervisor.stop()

        shutdown.serving(stop)
        starting = group.create_task(wait_ready(http, [plan.url(n) for n in range(1, 5)]))
        await asyncio.wait([starting, running], return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            starting.cancel()
            if running.result():
                raise Unavailable("a service stopped while the stack was starting")
            return  # stopped by a signal while starting
        email, password = await ensure_demo(plan, http)
        serving = group.create_task(proxy.serve(sockets=[sock]), name="proxy")
        while not (proxy.started or serving.done()):  # noqa: ASYNC110  (uvicorn has no event)
            await asyncio.sleep(0.05)
        said = f"password {password}" if password else "password as set before"
        output.line("dev", f"inbox http://{HOST}:{plan.port}/   sign in as {email}, {said}")
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(
            signal.SIGHUP, lambda: group.create_task(roll_gateways(plan, supervisor, http, output))
        )
        failed = await running
        loop.remove_signal_handler(signal.SIGHUP)
        proxy.should_exit = True
        await serving
        if failed:
            raise Unavailable("a service of the stack stopped")


def run(port: int, amqp_url: str, database_url: str, data_dir: str, management: str | None) -> int:
    """`livedesk dev`; the exit status (see `livedesk.shared.lifecycle`)."""
    database_url = Settings(database_url=database_url).database_url  # postgresql:// too
    plan = Plan(port, amqp_url, database_url, Path(data_dir), management)

    async def main(shutdown: Shutdown) -> None:
        await serve(plan, shutdown)

    return run_service("dev", main)
