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

import asyncpg
from sqlalchemy.engine import make_url
from yarl import URL

from livedesk.cli.broker_setup import ManagementApi, management_base, management_client
from livedesk.shared.broker_users import Permissions
from livedesk.shared.lifecycle import CommandError, Unavailable

EVERYTHING: Final = Permissions(configure=".*", write=".*", read=".*")
CREDENTIALS_FILE: Final = "dev-login.json"


@dataclass(frozen=True)
class Login:
    email: str
    password: str


async def ensure_vhost(amqp_url: str, management_url: str | None) -> None:
    """The vhost the AMQP URL names, made if missing: through the management API (as
    `livedesk broker-setup` does, with the broker login), or with `rabbitmqctl` on this
    machine where the management plugin is not enabled."""
    amqp = URL(amqp_url)
    vhost = amqp.path[1:] or "/"
    user, password = amqp.user or "guest", amqp.password or "guest"
    admin = URL(management_url or str(management_base(amqp_url)))
    if not admin.user:
        admin = admin.with_user(user).with_password(password)
    try:
        async with management_client(str(admin)) as http:
            api = ManagementApi(http)
            if await api.ensure_vhost(vhost):
                await api.set_permissions(vhost, user, EVERYTHING)
            return
    except Unavailable as error:
        unanswered = error
    if shutil.which("rabbitmqctl") is None:
        raise Unavailable(
            f"cannot make the vhost {vhost!r}: {unanswered} and rabbitmqctl is not here; "
            "create the vhost yourself"
        )
    await _rabbitmqctl("add_vhost", vhost)  # a vhost that exists is no error
    await _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


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
