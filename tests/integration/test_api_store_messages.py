"""The store's message write (`Store.post_message`), checked row by row on each database.

The REST and outbox suites drive it through the routes; here it is called directly on a
real database, so that what it leaves behind can be read back exactly: the event's bytes
are `events.encode` of the finished event, offsets are gapless under concurrency, a
client_id retry changes nothing, and another account's conversation is not found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.models import AccountOffset, Conversation, Event, Message
from livedesk.api.schemas import MessageCreate
from livedesk.api.store.authorship import Import, KindRefused
from livedesk.api.store.base import Store
from livedesk.api.store.errors import NotFound
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.events import MessageData, MessageKind, NewMessage, SenderType, encode
from tests.support.api import (
    InProcessApi,
    SettableClock,
    Tenant,
    admin_email,
    api_settings,
    in_process_api,
    make_tenant,
    open_conversation,
)


@dataclass
class Setup:
    app: InProcessApi
    store: Store
    clock: SettableClock
    tenants: list[Tenant]
    conversations: list[int]


@pytest.fixture
async def setup(any_database: tuple[str, list[int]], tmp_path: Path) -> AsyncIterator[Setup]:
    database_url, accounts = any_database
    clock = SettableClock()
    async with in_process_api(api_settings(database_url, tmp_path), MemoryBus(), clock) as app:
        tenants = []
        for n, account in enumerate(accounts):
            tenant = await make_tenant(app.client, admin_email(n), account, 0)
            tenant.admin_id = app.context.verifier.verify(tenant.token).user_id
            tenants.append(tenant)
        conversations = [await open_conversation(app.client, t) for t in tenants]
        yield Setup(app, app.context.store, clock, tenants, conversations)


async def events_of(setup: Setup, account_id: int) -> list[tuple[int, bytes]]:
    async with setup.app.context.engine.connect() as connection:
        rows = await connection.execute(
            select(col(Event.offset), col(Event.payload))
            .where(col(Event.account_id) == account_id, col(Event.type) == "new_message")
            .order_by(col(Event.offset))
        )
        return [(offset, bytes(payload)) for offset, payload in rows]


async def last_offset(setup: Setup, account_id: int) -> int:
    async with setup.app.context.engine.connect() as connection:
        found = await connection.execute(
            select(col(AccountOffset.last_offset)).where(
                col(AccountOffset.account_id) == account_id
            )
        )
        return int(found.scalar_one())


async def write(
    setup: Setup,
    tenant: Tenant,
    conversation: int,
    content: str = "hello",
    client_id: str | None = None,
    kind: MessageKind = MessageKind.OUTGOING,
    imported: Import | None = None,
) -> tuple[MessageData, bool] | None:
    """The message posted, and whether it was new; None when the store says not found."""
    body = MessageCreate(content=content, kind=kind, client_id=client_id)
    try:
        posted = await setup.store.post_message(
            tenant.account_id, tenant.admin_id, conversation, body, imported
        )
    except NotFound:
        return None
    data = MessageData.model_validate(posted.message.model_dump(exclude={"account_id"}))
    return data, posted.created


async def test_the_event_is_exactly_the_encoded_new_message(setup: Setup) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    before = await last_offset(setup, tenant.account_id)
    # One moment for the message and its event (SQLite's write reads the clock twice).
    setup.clock.fixed = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    written = await write(setup, tenant, conversation, 'a "quoted" reply', client_id="c-1")
    assert written is not None
    data, created = written
    assert created
    assert data.sender_type is SenderType.AGENT
    ((offset, payload),) = await events_of(setup, tenant.account_id)
    assert offset == before + 1 == await last_offset(setup, tenant.account_id)
    expected = NewMessage(
        offset=offset,
        account_id=tenant.account_id,
        conversation_id=conversation,
        ts=setup.clock.fixed,
        data=data,
    )
    assert data.created_at == setup.clock.fixed
    assert payload == encode(expected)
    async with setup.app.context.engine.connect() as connection:
        stored = (await connection.execute(select(Message).where(col(Message.id) == data.id))).one()
        activity = (
            await connection.execute(
                select(col(Conversation.last_activity_at)).where(
                    col(Conversation.id) == conversation
                )
            )
        ).scalar_one()
    assert (stored.content, stored.client_id, stored.created_at) == (
        data.content,
        "c-1",
        data.created_at,
    )
    assert activity == data.created_at


async def test_an_incoming_message_is_sent_by_the_contact(setup: Setup) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    written = await write(setup, tenant, conversation, kind=MessageKind.INCOMING, imported=Import())
    assert written is not None
    data, _ = written
    assert (data.sender_type, data.sender_id) == (SenderType.CONTACT, tenant.contact_id)
    ((_, payload),) = await events_of(setup, tenant.account_id)
    assert f'"sender_id":{tenant.contact_id},'.encode() in payload


async def test_an_agent_may_not_write_incoming_and_nothing_is_written(setup: Setup) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    before = await last_offset(setup, tenant.account_id)
    with pytest.raises(KindRefused):
        await write(setup, tenant, conversation, kind=MessageKind.INCOMING)
    assert await last_offset(setup, tenant.account_id) == before
    assert await events_of(setup, tenant.account_id) == []


async def test_an_import_keeps_its_time_and_takes_the_next_offset(setup: Setup) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    setup.clock.fixed = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = await write(setup, tenant, conversation, "a reply")
    written_then = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    setup.clock.fixed = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    imported = await write(
        setup, tenant, conversation, "from the old desk", kind=MessageKind.INCOMING,
        imported=Import(written_then),
    )  # fmt: skip
    assert first is not None
    assert imported is not None
    data = imported[0]
    # The message keeps its time; its place and its event are the write's.
    assert data.created_at == written_then
    assert data.id > first[0].id
    _, (offset, payload) = await events_of(setup, tenant.account_id)
    assert offset == await last_offset(setup, tenant.account_id)
    event = NewMessage(
        offset=offset,
        account_id=tenant.account_id,
        conversation_id=conversation,
        ts=setup.clock.fixed,
        data=data,
    )
    assert payload == encode(event)
    async with setup.app.context.engine.connect() as connection:
        stored = (await connection.execute(select(Message).where(col(Message.id) == data.id))).one()
    assert stored.created_at == written_then


async def test_a_client_id_retry_returns_the_first_message_and_emits_nothing(
    setup: Setup,
) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    first = await write(setup, tenant, conversation, "first", client_id="same")
    offset = await last_offset(setup, tenant.account_id)
    again = await write(setup, tenant, conversation, "second", client_id="same")
    assert first is not None
    assert again is not None
    assert again == (first[0], False)
    assert await last_offset(setup, tenant.account_id) == offset
    assert len(await events_of(setup, tenant.account_id)) == 1


async def test_another_accounts_conversation_is_not_found_and_nothing_is_written(
    setup: Setup,
) -> None:
    mine = setup.tenants[0]
    offsets = [await last_offset(setup, t.account_id) for t in setup.tenants]
    assert await write(setup, mine, setup.conversations[1]) is None
    assert await write(setup, mine, 2**62) is None
    assert [await last_offset(setup, t.account_id) for t in setup.tenants] == offsets
    async with setup.app.context.engine.connect() as connection:
        count = (await connection.execute(select(col(Message.id)))).all()
    assert count == []


async def test_concurrent_writes_get_gapless_offsets_and_one_message_per_client_id(
    setup: Setup,
) -> None:
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    before = await last_offset(setup, tenant.account_id)
    results = await asyncio.gather(
        *(write(setup, tenant, conversation, f"m{n}") for n in range(30)),
        *(write(setup, tenant, conversation, f"dup{n}", client_id="dup") for n in range(10)),
    )
    created = [r for r in results if r is not None and r[1]]
    assert len(created) == 31
    assert len({r[0].id for r in results if r is not None and r[0].client_id == "dup"}) == 1
    events = await events_of(setup, tenant.account_id)
    assert [offset for offset, _ in events] == list(range(before + 1, before + 32))
    assert sorted(NewMessage.model_validate_json(p).data.id for _, p in events) == sorted(
        r[0].id for r in created
    )


async def test_the_relay_times_commit_to_publish_from_the_commits_return(setup: Setup) -> None:
    # An event whose `ts` is a minute old when its statement runs: written-to-publish
    # counts that minute, commit-to-publish starts when the commit returned.
    metrics = setup.app.context.metrics.registry

    def sample(name: str) -> float:
        return metrics.get_sample_value(f"livedesk_outbox_{name}") or 0.0

    async def published(count: int) -> None:
        for _ in range(500):
            if sample("published_events_total") == count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{sample('published_events_total')} published, not {count}")

    async with setup.app.context.engine.connect() as connection:
        events = len((await connection.execute(select(col(Event.offset)))).all())
    await published(events)  # the setup's own events, timed from their commits
    commit_s, written_s = (
        sample("commit_to_publish_seconds_sum"),
        sample("written_to_publish_seconds_sum"),
    )
    setup.clock.fixed = datetime.now(UTC) - timedelta(minutes=1)
    tenant, conversation = setup.tenants[0], setup.conversations[0]
    assert await write(setup, tenant, conversation) is not None
    await published(events + 1)
    assert sample("written_to_publish_seconds_sum") - written_s >= 60.0
    assert sample("commit_to_publish_seconds_sum") - commit_s < 10.0
