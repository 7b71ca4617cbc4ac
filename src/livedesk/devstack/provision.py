"""What the development stack needs before its services start: a RabbitMQ vhost and a
PostgreSQL database of its own (made if missing), the schema, and a demo account whose
password is made once and kept in the stack's data directory."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from yarl import URL

from livedesk.shared.lifecycle import CommandError, Unavailable

MANAGEMENT_PORT: Final = 15672
CREDENTIALS_FILE: Final = "dev-login.json"


@dataclass(frozen=True)
class Login:
    email: str
    password: str


async def ensure_vhost(amqp_url: str, management_url: str | None) -> None:
    """The vhost the AMQP URL names, made if missing: through the management API, or with
    `rabbitmqctl` on this machine where the management plugin is not enabled."""
    amqp = URL(amqp_url)
    vhost = amqp.path[1:] or "/"
    user, password = amqp.user or "guest", amqp.password or "guest"
    base = management_url or f"http://{amqp.host}:{MANAGEMENT_PORT}"
    async with httpx.AsyncClient(base_url=f"{base}/api", auth=(user, password), timeout=10) as http:
        try:
            await _ensure_vhost_through(http, vhost, user)
            return
        except httpx.TransportError as error:
            unanswered = error
    if shutil.which("rabbitmqctl") is None:
        raise Unavailable(
            f"cannot make the vhost {vhost!r}: RabbitMQ's management API at {base} did not "
            f"answer ({unanswered}) and rabbitmqctl is not here; create the vhost yourself"
        )
    await _rabbitmqctl("add_vhost", vhost)  # a vhost that exists is no error
    await _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


async def _ensure_vhost_through(http: httpx.AsyncClient, vhost: str, user: str) -> None:
    path = f"/vhosts/{quote(vhost, safe='')}"
    if (await http.get(path)).status_code != 404:
        return
    (await http.put(path, json={})).raise_for_status()
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    permissions = f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
    (await http.put(permissions, json=everything)).raise_for_status()


async def _rabbitmqctl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise Unavailable(f"rabbitmqctl {' '.join(args)}: {text.strip()[:300]}")


async def ensure_database(database_url: str) -> None:
    """The database the URL names, made if missing (connecting to `postgres` to make it)."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        return
    server = url.set(drivername="postgresql", database="postgres")
    try:
        connection = await asyncpg.connect(server.render_as_string(hide_password=False))
    except (OSError, asyncpg.PostgresError) as error:
        raise Unavailable(f"cannot reach PostgreSQL at {server}: {error}") from error
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", url.database
        )
        if not exists:
            name = str(url.database).replace('"', '""')
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def demo_login(data_dir: Path) -> tuple[Login, bool]:
    """The demo admin's login, and whether it is new (then it must be bootstrapped)."""
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        try:
            saved = json.loads(path.read_text())
            return Login(email=saved["email"], password=saved["password"]), False
        except (ValueError, KeyError) as error:
            raise CommandError(
                f"{path} is not a saved login; delete it to make a new one"
            ) from error
    return Login(email="admin@demo.test", password=secrets.token_urlsafe(12)), True


def save_login(data_dir: Path, login: Login) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    path.write_text(json.dumps({"email": login.email, "password": login.password}))
    path.chmod(0o600)
