"""One broker user per service on real RabbitMQ: what `livedesk broker-setup` makes, what each
user may and may not do, and events from anyone but the API's user kept from sockets.

Users are made in the test run's vhost with names of the run's own (tests/support/broker_users).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import aiormq
import httpx
import pytest
from yarl import URL

from livedesk.gateway.main import gateway_node, run_server
from livedesk.gateway.node import Node
from livedesk.shared.broker_users import NOTHING, SERVICE_PERMISSIONS, Permissions, names
from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.errors import BusError
from livedesk.shared.lifecycle import bind
from livedesk.shared.settings import BusSettings, GatewaySettings, Settings
from livedesk.shared.topology import (
    EPHEMERAL,
    EVENTS,
    EXCHANGES,
    PRESENCE_IN,
    QueueSpec,
    node_queue,
)
from tests.support.broker_users import (
    BrokerUsers,
    ManagedBroker,
    broker_users,
    delete_users,
    managed_broker,
    unique_prefix,
)
from tests.support.buses import RABBIT_KINDS, open_rabbit_bus
from tests.support.gateway import EventLog, FakePresence, Keys, until
from tests.support.ports import free_port
from tests.support.private_rabbit import PrivateRabbit
from tests.support.services import answers
from tests.support.ws_client import WsClient

pytestmark = pytest.mark.rabbit

# A refused publish fails fast: the bus retries a closed channel until this runs out.
REFUSED_WITHIN = BusSettings(publish_timeout_s=2.0, reconnect_interval_s=0.2)
WAIT_S = 10.0


@pytest.fixture(scope="module")
def broker() -> Iterator[ManagedBroker]:
    if not PrivateRabbit.available():
        pytest.fail("broker user tests need a local RabbitMQ installation (rabbitmq-server)")
    with managed_broker() as managed:
        yield managed


@pytest.fixture
async def users(broker: ManagedBroker) -> AsyncIterator[BrokerUsers]:
    async with broker_users(broker) as made:
        yield made


@pytest.fixture(params=RABBIT_KINDS)
def bus_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@asynccontextmanager
async def connected(
    url: str, kind: str, settings: BusSettings = REFUSED_WITHIN
) -> AsyncIterator[RabbitBus]:
    async with RabbitBus.connect(
        url, settings.model_copy(update={"fast_path": kind == "rabbit-fast"})
    ) as bus:
        yield bus


def node_queue_on(*bindings: tuple[str, str]) -> QueueSpec:
    """A gateway's node queue (the gateway user may declare and read no other), bound."""
    return dataclasses.replace(node_queue(f"gw-{secrets.token_hex(3)}"), bindings=bindings)


# -- livedesk broker-setup ------------------------------------------------------------------


async def permissions_of(http: httpx.AsyncClient, vhost: str, user: str) -> dict[str, str]:
    response = await http.get(f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}")
    response.raise_for_status()
    body = response.json()
    return {kind: body[kind] for kind in ("configure", "write", "read")}


def printed_passwords(out: str) -> dict[str, str]:
    """`service: user NAME created, password SECRET` lines -> {NAME: SECRET}."""
    return {line.split()[2]: line.split()[-1] for line in out.splitlines() if " created, " in line}


async def broker_setup(
    *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`livedesk broker-setup ARGUMENTS` in a process of its own, as an operator runs it."""
    command = [sys.executable, "-m", "livedesk.cli.main", "broker-setup", *arguments]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


async def test_broker_setup_makes_vhost_users_and_permissions_and_runs_again(
    broker: ManagedBroker,
) -> None:
    admin = broker.management_url
    prefix = unique_prefix()
    vhost = prefix.rstrip("-")  # a vhost the command must create
    command = ["--management-url", admin, "--vhost", vhost, "--prefix", prefix]
    try:
        done = await broker_setup(*command)
        assert done.returncode == 0, done.stderr
        first = done.stdout
        passwords = printed_passwords(first)
        assert f"vhost {vhost!r}: created" in first
        assert sorted(passwords) == sorted(f"{prefix}{s}" for s in SERVICE_PERMISSIONS)

        done = await broker_setup(*command)
        assert done.returncode == 0, done.stderr
        again = done.stdout
        assert "created" not in again
        assert again.count("exists, password unchanged") == len(SERVICE_PERMISSIONS)

        async with httpx.AsyncClient(base_url=f"{admin}/api") as http:
            for service, wanted in SERVICE_PERMISSIONS.items():
                granted = await permissions_of(http, vhost, f"{prefix}{service}")
                assert granted == vars(wanted)
        # The passwords printed the first time still log in after the second run.
        url = broker.url_as(f"{prefix}api", passwords[f"{prefix}api"], vhost)
        connection = await aiormq.connect(url)
        await connection.close()
    finally:
        async with httpx.AsyncClient(base_url=f"{admin}/api") as http:
            await delete_users(http, [f"{prefix}{s}" for s in SERVICE_PERMISSIONS])
            await http.delete(f"/vhosts/{quote(vhost, safe='')}")


async def test_broker_setup_sets_a_password_given_in_the_environment(
    broker: ManagedBroker,
) -> None:
    admin, prefix, vhost = broker.management_url, unique_prefix(), broker.vhost
    secret = secrets.token_urlsafe(12)
    env = {"LIVEDESK_BROKER_GATEWAY_PASSWORD": secret}
    command = ["--management-url", admin, "--vhost", vhost, "--prefix", prefix]
    try:
        done = await broker_setup(*command, env=env)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert f"gateway: user {prefix}gateway, password set as given" in out
        assert secret not in out
        url = broker.url_as(f"{prefix}gateway", secret)
        connection = await aiormq.connect(url)
        await connection.close()
    finally:
        async with httpx.AsyncClient(base_url=f"{admin}/api") as http:
            await delete_users(http, [f"{prefix}{s}" for s in SERVICE_PERMISSIONS])


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        pytest.param(["--password", "nobody=x"], "SERVICE=SECRET", id="unknown service"),
        pytest.param(["--password", "api"], "SERVICE=SECRET", id="no secret"),
        pytest.param(["--management-url", "http://127.0.0.1:PORT"], "admin login", id="no login"),
        pytest.param(
            ["--management-url", "http://guest:wrong@127.0.0.1:PORT"],
            "not an admin login",
            id="wrong password",
        ),
        pytest.param(
            ["--management-url", "http://guest:guest@127.0.0.1:1"],
            "did not answer",
            id="nothing listening",
        ),
    ],
)
async def test_broker_setup_refuses_bad_input_with_one_line(
    broker: ManagedBroker, arguments: list[str], says: str
) -> None:
    admin = URL(broker.management_url)
    arguments = [a.replace("PORT", str(admin.port)) for a in arguments]
    command = ["--prefix", unique_prefix(), "--vhost", broker.vhost]
    if "--management-url" not in arguments:
        command += ["--management-url", str(admin)]
    done = await broker_setup(*command, *arguments)
    error = done.stderr
    assert done.returncode != 0
    assert says in error
    assert error.count("\n") == 1  # one line, no traceback


# -- what each user may do ------------------------------------------------------------------


async def test_the_api_user_publishes_events_but_cannot_consume_a_gateway_queue(
    users: BrokerUsers, bus_kind: str
) -> None:
    async with (
        connected(users.service_url("gateway"), bus_kind) as gateway,
        gateway.subscribe(node_queue("gw-owner")) as _,
        connected(users.service_url("api"), bus_kind) as api,
    ):
        await api.publish(Message(EVENTS, "acct.1.conv.1.new_message", b"{}"))
        await api.publish(Message(PRESENCE_IN, "node.gw.availability_set", b"{}", False))
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            async with api.subscribe(node_queue("gw-taken")):
                pass


@pytest.mark.parametrize("service", ["gateway", "presence"])
async def test_only_the_api_user_may_publish_events(
    users: BrokerUsers, bus_kind: str, service: str
) -> None:
    allowed = PRESENCE_IN if service == "gateway" else EPHEMERAL
    async with connected(users.service_url(service), bus_kind) as bus:
        await bus.publish(Message(allowed, "acct.1.conv.1.typing", b"{}", False))
        with pytest.raises(
            BusError, match=re.escape(f"ACCESS_REFUSED - access to exchange '{EVENTS}'")
        ):
            await bus.publish(Message(EVENTS, "acct.1.conv.1.new_message", b"{}"))


async def test_a_forged_user_id_is_refused_by_the_broker(users: BrokerUsers, bus_kind: str) -> None:
    async with (
        open_rabbit_bus(bus_kind, users.service_url("gateway"), "listener") as listener,
        listener.subscribe(node_queue_on((EVENTS, "acct.1.#"))) as subscription,
        connected(users.service_url("api"), bus_kind) as api,
    ):
        await api.publish(Message(EVENTS, "acct.1.conv.1.new_message", b"genuine"))
        async with asyncio.timeout(WAIT_S):
            delivery = await anext(subscription)
        assert (delivery.body, delivery.user_id) == (b"genuine", users.users["api"])

        api.user_id = users.users["presence"]  # claims to be another user
        with pytest.raises(BusError, match="PRECONDITION_FAILED - user_id property set to"):
            await api.publish(Message(EVENTS, "acct.1.conv.1.new_message", b"forged"))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(subscription)


# -- gateways keep events from other users off their sockets -------------------------------


@asynccontextmanager
async def gateway_as(
    users: BrokerUsers, keys: Keys, log: EventLog
) -> AsyncIterator[tuple[Node, str]]:
    """A gateway node logged in as the gateway user, expecting events from the API's user;
    the node and its WebSocket URL."""
    bus_settings = BusSettings(reconnect_interval_s=0.5, events_publisher_user=users.users["api"])
    settings = Settings(
        amqp_url=users.service_url("gateway"),
        node_id=f"gw-users-{secrets.token_hex(3)}",
        bus=bus_settings,
        gateway=GatewaySettings(unbind_grace_s=0.0, gap_wait_s=0.1),
    )
    stop, port = asyncio.Event(), free_port()
    async with (
        RabbitBus.connect(settings.amqp_url, bus_settings, name=settings.node_id) as bus,
        gateway_node(bus, settings, keys.verifier, log, FakePresence()) as node,
    ):
        server = asyncio.create_task(run_server(node, settings, bind("127.0.0.1", port), stop))
        try:
            await until(lambda: answers("127.0.0.1", port))
            yield node, f"ws://127.0.0.1:{port}/ws"
        finally:
            stop.set()
            await server


def impostor_events(node: Node) -> float:
    value = node.metrics.registry.get_sample_value("livedesk_gateway_impostor_events_total")
    return 0.0 if value is None else value


async def test_events_from_another_broker_user_never_reach_a_socket(
    users: BrokerUsers, tmp_path: Path
) -> None:
    keys = Keys(tmp_path)
    # The intruder may publish to the events exchange, as a leaked credential with too wide
    # a grant would: the broker lets it, and the gateway must not.
    intruder_url = await users.add(
        f"{unique_prefix()}intruder",
        Permissions(configure=names(*EXCHANGES), write=names(EVENTS), read=NOTHING),
    )
    account = random.randint(10**12, 10**13)
    async with (
        RabbitBus.connect(users.service_url("api"), REFUSED_WITHIN) as api_bus,
        RabbitBus.connect(intruder_url, REFUSED_WITHIN) as intruder_bus,
    ):
        log, forger = EventLog(api_bus), EventLog(intruder_bus)
        async with gateway_as(users, keys, log) as (node, url):
            conversation = log.conversation(account, 7)
            client = await WsClient(url).open()
            await client.auth(keys.token(account, 5))
            await forger.post(account, conversation, "forged")
            await until(lambda: impostor_events(node) == 1)
            await log.post(account, conversation, "genuine")
            await until(lambda: client.offsets() == [1])
            (event,) = client.of_type("new_message")
            assert event["data"]["content"] == "genuine"
            await client.close()
