"""A RabbitMQ virtual host of the test run's own.

Exchange and queue names are fixed by the topology, so two runs on one broker (another
checkout, a benchmark, a developer's stack) would hear each other's events and answer each
other's presence messages. Each test session therefore works in a vhost of its own, made at
the start and deleted at the end, through the management API where it answers, else through
`rabbitmqctl` on this machine. Vhosts left by a run that was killed are deleted by the next run
on the same machine (their names carry the owning process id).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Protocol

import httpx
from yarl import URL

PREFIX: Final = "livedesk-test-"
MANAGEMENT_PORT: Final = 15672


class VhostAdmin(Protocol):
    def names(self) -> list[str]: ...
    def create(self, name: str, user: str) -> None: ...
    def delete(self, name: str) -> None: ...
    def close(self) -> None: ...


class ManagementApi:
    def __init__(self, base_url: str, user: str, password: str) -> None:
        self._client = httpx.Client(base_url=f"{base_url}/api", auth=(user, password), timeout=10)

    @classmethod
    def answering(cls, amqp: URL, base_url: str | None) -> ManagementApi | None:
        base = base_url or f"http://{amqp.host}:{MANAGEMENT_PORT}"
        api = cls(base, amqp.user or "guest", amqp.password or "guest")
        try:
            api._client.get("/overview").raise_for_status()
        except httpx.HTTPError:
            api.close()
            return None
        return api

    def names(self) -> list[str]:
        response = self._client.get("/vhosts", params={"columns": "name"})
        response.raise_for_status()
        return [str(vhost["name"]) for vhost in response.json()]

    def create(self, name: str, user: str) -> None:
        self._client.put(f"/vhosts/{name}").raise_for_status()
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        self._client.put(f"/permissions/{name}/{user}", json=everything).raise_for_status()

    def delete(self, name: str) -> None:
        response = self._client.delete(f"/vhosts/{name}")
        if response.status_code != 404:
            response.raise_for_status()

    def close(self) -> None:
        self._client.close()


class Rabbitmqctl:
    @classmethod
    def local(cls, amqp: URL) -> Rabbitmqctl | None:
        loopback = amqp.host in {"127.0.0.1", "localhost", "::1"}
        return cls() if loopback and shutil.which("rabbitmqctl") else None

    @staticmethod
    def _run(*args: str) -> str:
        done = subprocess.run(
            ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def names(self) -> list[str]:
        return [line.strip() for line in self._run("list_vhosts", "name").splitlines()[1:]]

    def create(self, name: str, user: str) -> None:
        self._run("add_vhost", name)
        self._run("set_permissions", "-p", name, user, ".*", ".*", ".*")

    def delete(self, name: str) -> None:
        self._run("delete_vhost", name)

    def close(self) -> None:
        pass  # nothing held between commands


def _owner_gone(name: str) -> bool:
    pid = name.removeprefix(PREFIX).split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def private_vhost(server_url: str, management_url: str | None = None) -> Iterator[str]:
    """The broker URL with a new vhost of this process's own in its path."""
    amqp = URL(server_url)
    admin: VhostAdmin | None = ManagementApi.answering(amqp, management_url) or Rabbitmqctl.local(
        amqp
    )
    if admin is None:
        raise RuntimeError(
            f"cannot make a test vhost on {amqp.host}: enable the management plugin there, set "
            "LIVEDESK_TEST_AMQP_MANAGEMENT_URL, or run the broker on this machine (rabbitmqctl)"
        )
    with contextlib.closing(admin):
        if amqp.host in {"127.0.0.1", "localhost", "::1"}:
            for stale in admin.names():
                if stale.startswith(PREFIX) and _owner_gone(stale):
                    admin.delete(stale)
        name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        admin.create(name, amqp.user or "guest")
        try:
            yield str(amqp.with_path("/" + name))
        finally:
            admin.delete(name)
