"""The real topology with one broker user per service, as `livedesk broker-setup` makes them:
api, presence and two gateways as processes, each logged in as its own user, the gateways told
to accept events from the API's. What each service does on the broker must fit in what its
user is allowed (docs/security.md, "Broker users"), or something below stops arriving.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livedesk.shared.broker_users import SERVICES
from tests.support.broker_users import managed_broker, service_urls
from tests.support.gateway import until
from tests.support.private_rabbit import PrivateRabbit
from tests.system.test_gateway_system import Stack, client, running_stack

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not PrivateRabbit.available():
        pytest.fail("broker user tests need a local RabbitMQ installation (rabbitmq-server)")
    with managed_broker() as broker, service_urls(broker) as urls:
        assert sorted(urls) == sorted(SERVICES)
        api_user = urls["api"].split("//", 1)[1].split(":", 1)[0]
        with running_stack(
            broker.amqp_url,
            postgres_url,
            Path(tmp_path_factory.mktemp("stack")),
            extra_env={"LIVEDESK_BUS__EVENTS_PUBLISHER_USER": api_user},
            service_amqp_urls=urls,
        ) as running:
            yield running


async def test_every_service_works_on_its_own_broker_user(stack: Stack) -> None:
    tenant = await stack.tenant()
    async with client(stack.gateways[0].ws) as one, client(stack.gateways[1].ws) as two:
        await one.auth(tenant.token)
        await two.auth(stack.token(tenant))
        for ws in (one, two):
            await ws.send({"type": "subscribe", "conversation_id": tenant.conversation_id})
        await until(lambda: one.of_type("subscribed") and two.of_type("subscribed"))
        # gateway -> presence.in -> presence -> ephemeral -> the other gateway
        await one.send(
            {"type": "typing", "conversation_id": tenant.conversation_id, "state": "start"}
        )
        await until(lambda: two.of_type("typing"), timeout_s=15)
        # api -> events -> both gateways, accepted as the API's
        async with httpx.AsyncClient() as http:
            await tenant.post(http)
        await until(lambda: one.offsets() == [2] and two.offsets() == [2])
    for gateway in stack.gateways:
        assert await gateway.metric("livedesk_gateway_impostor_events_total") == 0
