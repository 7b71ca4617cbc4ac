"""Broker users of the test run's own, made by `livedesk broker-setup`'s code in the run's vhost,
on a private node with the management API (`managed_broker`): the machine's broker may run
without the plugin, and enabling it there would change every other run's broker.

RabbitMQ users are global, not per vhost: their names carry the process id and a random part,
so that two runs on one broker never share one, and they are deleted when the test ends.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from yarl import URL

from livedesk.cli.broker_setup import ManagementApi, management_client, set_up
from livedesk.shared.broker_users import SERVICES, Permissions
from tests.support.private_rabbit import PrivateRabbit
from tests.support.vhosts import private_vhost

USER_PREFIX = "livedesk-test-"


def unique_prefix() -> str:
    return f"{USER_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}-"


@dataclass(frozen=True)
class ManagedBroker:
    amqp_url: str  # in a vhost of the run's own, as the admin
    management_url: str  # with the admin login in it

    @property
    def vhost(self) -> str:
        return URL(self.amqp_url).path[1:]

    def url_as(self, user: str, password: str, vhost: str | None = None) -> str:
        """An AMQP URL of this broker logging in as `user`, in `vhost` (default: the run's)."""
        url = URL(self.amqp_url).with_user(user).with_password(password)
        return str(url if vhost is None else url.with_path("/" + vhost))


@contextmanager
def managed_broker() -> Iterator[ManagedBroker]:
    """A private node with its management API, and a vhost of the run's own on it."""
    node = PrivateRabbit(management=True)
    node.start()
    try:
        admin = str(URL(node.management_url).with_user("guest").with_password("guest"))
        _wait_for_management(node.management_url)
        with private_vhost(node.url, node.management_url) as url:
            yield ManagedBroker(url, admin)
    finally:
        node.stop()


def _wait_for_management(base_url: str, timeout_s: float = 60.0) -> None:
    # The plugin starts with the node, but its listener may answer a moment after `wait`;
    # until it answers, private_vhost would fall back to rabbitmqctl on the machine's node.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.get(f"{base_url}/api/overview", auth=("guest", "guest"), timeout=2)
            response.raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class BrokerUsers:
    """Each service's user and password, and AMQP URLs that log in as them."""

    broker: ManagedBroker
    users: dict[str, str]  # service -> user name
    passwords: dict[str, str]  # user name -> password
    api: ManagementApi

    def url(self, user: str) -> str:
        return self.broker.url_as(user, self.passwords[user])

    def service_url(self, service: str) -> str:
        return self.url(self.users[service])

    async def add(self, user: str, permissions: Permissions) -> str:
        """Another user, with `permissions` in the vhost; its AMQP URL."""
        self.passwords[user] = uuid.uuid4().hex
        await self.api.ensure_user(user, self.passwords[user])
        await self.api.set_permissions(self.broker.vhost, user, permissions)
        return self.url(user)


@asynccontextmanager
async def broker_users(broker: ManagedBroker) -> AsyncIterator[BrokerUsers]:
    """The three service users in the broker's vhost, deleted on exit with any added."""
    prefix = unique_prefix()
    async with management_client(broker.management_url) as http:
        api = ManagementApi(http)
        passwords = {s: uuid.uuid4().hex for s in SERVICES}
        users = await set_up(api, broker.vhost, prefix, passwords, io.StringIO())
        created = BrokerUsers(broker, users, {users[s]: passwords[s] for s in SERVICES}, api)
        try:
            yield created
        finally:
            await delete_users(http, list(created.passwords))


@contextmanager
def service_urls(broker: ManagedBroker) -> Iterator[dict[str, str]]:
    """Each service's AMQP URL as its own user, for service processes; users deleted on exit."""

    async def make() -> dict[str, str]:
        async with management_client(broker.management_url) as http:
            return await set_up(ManagementApi(http), broker.vhost, prefix, passwords, io.StringIO())

    async def delete() -> None:
        async with management_client(broker.management_url) as http:
            await delete_users(http, list(users.values()))

    prefix = unique_prefix()
    passwords = {s: uuid.uuid4().hex for s in SERVICES}
    users = asyncio.run(make())
    try:
        yield {s: broker.url_as(users[s], passwords[s]) for s in SERVICES}
    finally:
        asyncio.run(delete())


async def delete_users(http: httpx.AsyncClient, names: list[str]) -> None:
    for name in names:
        response = await http.delete(f"/users/{quote(name, safe='')}")
        if response.status_code != 404:
            response.raise_for_status()
