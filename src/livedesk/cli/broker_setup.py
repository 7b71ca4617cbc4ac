"""`livedesk broker-setup`: one RabbitMQ user per service, allowed only what it needs.

Through the management HTTP API, as an administrator: the vhost is created if missing, each
service's user (`<prefix>api`, `<prefix>gateway`, `<prefix>presence`) is created if missing,
and its permissions in the vhost are set to `broker_users.SERVICE_PERMISSIONS`. Running it
again changes nothing but what differs: an existing user keeps its password unless one is
given (`--password SERVICE=SECRET`, or LIVEDESK_BROKER_<SERVICE>_PASSWORD); a new user without
one gets a generated password, printed once on stdout. The `rabbitmqctl` lines that do the same
are in docs/security.md.

Not here: the permissions themselves (`livedesk.shared.broker_users`).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO
from urllib.parse import quote

import httpx
from yarl import URL

from livedesk.shared.broker_users import SERVICE_PERMISSIONS, SERVICES, Permissions
from livedesk.shared.lifecycle import CommandError, Unavailable, run_once

DEFAULT_MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
DEFAULT_PREFIX = "livedesk-"
HTTP_TIMEOUT_S = 10.0
# An AMQP URL's scheme -> its broker's management API (scheme, RabbitMQ's default port).
MANAGEMENT_PORTS = {"amqp": ("http", 15672), "amqps": ("https", 15671)}
PASSWORD_BYTES = 24  # 192 bits, URL-safe: fits an AMQP URL unescaped


def password_env(service: str) -> str:
    return f"LIVEDESK_BROKER_{service.upper()}_PASSWORD"


def given_passwords(pairs: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Passwords by service from `SERVICE=SECRET` pairs, else from the environment."""
    passwords = {s: environ[password_env(s)] for s in SERVICES if environ.get(password_env(s))}
    for pair in pairs:
        service, sep, secret = pair.partition("=")
        if not sep or service not in SERVICES or not secret:
            raise CommandError(f"--password takes SERVICE=SECRET with SERVICE one of {SERVICES}")
        passwords[service] = secret
    return passwords


class ManagementApi:
    """The few calls of RabbitMQ's management API that setting up users needs."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _call(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise Unavailable(f"the management API did not answer: {error!r}") from error
        if response.status_code in (401, 403):
            raise CommandError(f"the management API refused {method} {path}: not an admin login")
        if response.status_code >= 400 and response.status_code != 404:
            raise CommandError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response

    async def exists(self, path: str) -> bool:
        return (await self._call("GET", path)).status_code != 404

    async def ensure_vhost(self, vhost: str) -> bool:
        """Create `vhost` unless it exists; whether it was created."""
        path = f"/vhosts/{quote(vhost, safe='')}"
        if await self.exists(path):
            return False
        await self._call("PUT", path, {})
        return True

    async def ensure_user(self, name: str, password: str | None) -> str | None:
        """Create the user, or set the password given; the password made for a new user."""
        path = f"/users/{quote(name, safe='')}"
        made = None
        if password is None:
            if await self.exists(path):
                return None
            password = made = secrets.token_urlsafe(PASSWORD_BYTES)
        await self._call("PUT", path, {"password": password, "tags": ""})
        return made

    async def set_permissions(self, vhost: str, user: str, permissions: Permissions) -> None:
        path = f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
        body = {"configure": permissions.configure, "write": permissions.write}
        await self._call("PUT", path, {**body, "read": permissions.read})


def management_base(admin_url: str) -> URL:
    """The management API's URL: `admin_url` itself, or for an AMQP URL, its broker's
    management API on RabbitMQ's default port (same login)."""
    url = URL(admin_url)
    if url.scheme in MANAGEMENT_PORTS:
        scheme, port = MANAGEMENT_PORTS[url.scheme]
        url = url.with_scheme(scheme).with_port(port).with_path("/")
    return url


def management_client(admin_url: str) -> httpx.AsyncClient:
    """A client of the management API at `admin_url`, logged in with its credentials."""
    url = management_base(admin_url)
    if not url.user:
        raise CommandError("the management URL must carry an admin login (http://user:pass@...)")
    base = str(url.with_user(None).with_path(url.path.rstrip("/") + "/api"))
    return httpx.AsyncClient(
        base_url=base, auth=(url.user, url.password or ""), timeout=HTTP_TIMEOUT_S
    )


async def set_up(
    api: ManagementApi, vhost: str, prefix: str, passwords: Mapping[str, str], out: TextIO
) -> dict[str, str]:
    """Vhost, users and permissions; the user name of each service."""
    if await api.ensure_vhost(vhost):
        print(f"vhost {vhost!r}: created", file=out)
    users = {service: f"{prefix}{service}" for service in SERVICES}
    for service, user in users.items():
        made = await api.ensure_user(user, passwords.get(service))
        await api.set_permissions(vhost, user, SERVICE_PERMISSIONS[service])
        if made is not None:
            print(f"{service}: user {user} created, password {made}", file=out)
        elif service in passwords:
            print(f"{service}: user {user}, password set as given", file=out)
        else:
            print(f"{service}: user {user} exists, password unchanged", file=out)
    return users


def run(management_url: str | None, vhost: str, prefix: str, password_pairs: Sequence[str]) -> int:
    """`livedesk broker-setup`; the process's exit status."""

    async def step() -> None:
        url = management_url or os.environ.get("LIVEDESK_BROKER_ADMIN_URL", DEFAULT_MANAGEMENT_URL)
        passwords = given_passwords(password_pairs, os.environ)
        async with management_client(url) as http:
            await set_up(ManagementApi(http), vhost, prefix, passwords, sys.stdout)

    return run_once("broker-setup", step())
