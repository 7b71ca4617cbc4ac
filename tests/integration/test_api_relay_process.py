"""The relay in its own process (`relay_process`), on real PostgreSQL and RabbitMQ.

What the API commits, the child publishes in order and reports back: /metrics counts what
the broker confirmed, /readyz says the broker was reached. The parent owns the child's
life: cancelling the parent's `run` stops the child, and a child that dies makes `run`
raise, so that no API serves without a relay. (The child's exit when the API process is
SIGKILLed is in tests/system/test_api_outbox_faults.py.)
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from livedesk.api.metrics import Metrics
from livedesk.api.relay_process import RelayDied, RelayProcess
from livedesk.api.relay_status import RelayStatus
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.settings import Settings
from tests.support.api import (
    admin_email,
    api_settings,
    collect_events,
    in_process_api,
    make_tenant,
    offsets,
    open_conversation,
    running,
)
from tests.support.gateway import until

MESSAGES = 20


def settings_for(database: tuple[str, list[int]], amqp_url: str, data_dir: Path) -> Settings:
    return api_settings(database[0], data_dir).model_copy(update={"amqp_url": amqp_url})


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def test_the_child_publishes_what_the_api_commits_and_reports_it(
    database: tuple[str, list[int]], amqp_url: str, tmp_path: Path
) -> None:
    account = database[1][0]
    settings = settings_for(database, amqp_url, tmp_path)
    async with (
        collect_events(amqp_url, account) as collector,
        in_process_api(settings, MemoryBus(), relay_in_child=True) as api,
    ):
        tenant = await make_tenant(api.client, admin_email(0), account, 0)
        conversation = await open_conversation(api.client, tenant)
        for n in range(MESSAGES):
            response = await api.client.post(
                f"/v1/conversations/{conversation}/messages",
                json={"content": f"m{n}", "client_id": f"c{n}"},
                headers=tenant.headers,
            )
            assert response.status_code == 201, response.text
        total = 1 + MESSAGES  # the conversation's event, then the messages'
        assert offsets(await collector.wait_for(total)) == list(range(1, total + 1))
        metrics = (await api.client.get("/metrics")).text
        assert metric(metrics, "livedesk_outbox_published_events_total") == total
        assert metric(metrics, "livedesk_outbox_commit_to_publish_seconds_count") == total
        assert metric(metrics, "livedesk_outbox_backlog") == 0
        ready = await api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["broker"] == "ok"


async def test_cancelling_the_parent_stops_the_child(
    database: tuple[str, list[int]], amqp_url: str, tmp_path: Path
) -> None:
    status = RelayStatus(Metrics())
    relay = RelayProcess(settings_for(database, amqp_url, tmp_path), status)
    serving = asyncio.create_task(relay.run())
    await until(lambda: status.broker_ok, timeout_s=20)  # the child reached the broker
    child = relay.pid
    assert child is not None
    assert running(child)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert not running(child)  # `run` waited for it
    assert not status.broker_ok  # no relay, no readiness


async def test_a_dead_child_makes_the_parent_raise(
    database: tuple[str, list[int]], amqp_url: str, tmp_path: Path
) -> None:
    status = RelayStatus(Metrics())
    relay = RelayProcess(settings_for(database, amqp_url, tmp_path), status)
    serving = asyncio.create_task(relay.run())
    await until(lambda: status.broker_ok, timeout_s=20)  # the child reached the broker
    assert relay.pid is not None
    os.kill(relay.pid, signal.SIGKILL)
    with pytest.raises(RelayDied, match="exited with status -9"):
        await asyncio.wait_for(serving, 10)
    assert not status.broker_ok
