"""The API's relay through a broker memory alarm, on a private RabbitMQ node, on both paths.

While the alarm is up the broker blocks the relay's connection and reads nothing from it;
each relay round times out (`relay_publish_timeout_s`) and is tried again. The relay is the
real one, in process, with its outbox on PostgreSQL, writes arriving through the REST API.
What the bus holds for the broker (`RabbitBus.unconfirmed_bytes`) stays within one round's
batch however many rounds fail, and once the alarm clears every event reaches a consumer
once, in order: no round's retry wrote its batch again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from livedesk.shared.bus.rabbit import RabbitBus
from tests.support.api import (
    admin_email,
    api_settings,
    collect_events,
    in_process_api,
    make_tenant,
    offsets,
    open_conversation,
    post_messages,
)
from tests.support.buses import RABBIT_KINDS, open_rabbit_bus
from tests.support.private_rabbit import PrivateRabbit

pytestmark = [pytest.mark.fault, pytest.mark.parametrize("kind", RABBIT_KINDS)]

BATCH = 50  # events per relay round
BEFORE, AFTER = 10, 10
FAILED_ROUNDS = 4  # relay rounds the alarm holds up before it clears
# A publish's frames around its body: method frame with exchange and routing key, content
# header, body frame head (the fast path counts frames, the plain path bodies).
FRAMING_BYTES = 256
SETTLE_S = 30.0


class FailedRounds(logging.Handler):
    """Counts the relay's failed rounds from its log; `enough` is set at `target`."""

    def __init__(self, target: int) -> None:
        super().__init__(logging.WARNING)
        self.target, self.count = target, 0
        self.enough = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "relay round failed" in record.getMessage():
            self.count += 1
            if self.count >= self.target:
                self.enough.set()

    @contextmanager
    def listening(self) -> Iterator[None]:
        logger = logging.getLogger("livedesk.api.relay")
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)


class Held:
    """The most the bus held for the broker while sampled."""

    def __init__(self, bus: RabbitBus) -> None:
        self.bus = bus
        self.peak_bytes = 0

    @asynccontextmanager
    async def sampled(self) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                self.peak_bytes = max(self.peak_bytes, self.bus.unconfirmed_bytes)
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        try:
            yield
        finally:
            sampler.cancel()


async def test_an_alarm_holds_the_relay_without_growth_loss_or_duplicates(
    kind: str,
    database: tuple[str, list[int]],
    private_rabbit: PrivateRabbit,
    tmp_path: Path,
) -> None:
    database_url, (account_id, _) = database
    settings = api_settings(
        database_url,
        tmp_path,
        relay_batch_size=BATCH,
        relay_publish_timeout_s=0.3,
        relay_sweep_interval_s=0.1,
    )
    async with (
        collect_events(private_rabbit.url, account_id) as collector,
        open_rabbit_bus(kind, private_rabbit.url, name="alarm-relay") as bus,
        in_process_api(settings, bus) as api,
    ):
        tenant = await make_tenant(api.client, admin_email(0), account_id, 0)
        conversation = await open_conversation(api.client, tenant)
        await post_messages(api.client, tenant, conversation, BEFORE, "before")
        assert len(await collector.wait_for(1 + BEFORE)) == 1 + BEFORE
        held, failed, posted = Held(bus), FailedRounds(FAILED_ROUNDS), 0
        alarm_over = asyncio.Event()

        async def write_through_the_alarm() -> None:
            nonlocal posted
            while not alarm_over.is_set():
                await post_messages(api.client, tenant, conversation, 1, f"during-{posted}")
                posted += 1
                await asyncio.sleep(0.01)

        try:
            with failed.listening():
                async with held.sampled(), asyncio.TaskGroup() as group:
                    group.create_task(write_through_the_alarm())
                    await asyncio.to_thread(private_rabbit.raise_memory_alarm)
                    async with asyncio.timeout(SETTLE_S):
                        await failed.enough.wait()
                    alarm_over.set()
        finally:
            await asyncio.to_thread(private_rabbit.clear_memory_alarm)
        await post_messages(api.client, tenant, conversation, AFTER, "after")
        total = 1 + BEFORE + posted + AFTER
        received = await collector.wait_for(total, timeout_s=SETTLE_S)

    assert offsets(received) == list(range(1, total + 1)), "all, in order, none twice"
    largest_body = max(len(event.model_dump_json()) for event in received)
    assert 0 < held.peak_bytes <= BATCH * (largest_body + FRAMING_BYTES)
