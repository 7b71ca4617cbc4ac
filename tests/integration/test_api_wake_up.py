"""The snoozes' wake-up as API replicas run it: several wakers on one PostgreSQL database,
each with an engine of its own, and a waker whose database goes away for a while.

Several wakers reopen each due conversation once (one event each, offsets gapless in every
account, no deadlock between accounts), and a waker that loses the database logs, waits and
carries on, then wakes what came due meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlmodel import col

from livedesk.api.db import make_engine
from livedesk.api.models import AccountOffset, Conversation, Event, User
from livedesk.api.schemas import ContactCreate, ConversationCreate
from livedesk.api.snooze import WAKE_BATCH, SnoozeWaker
from livedesk.api.store.base import Store
from livedesk.api.store.choice import store_for
from livedesk.shared.events import ConversationStatus, ConversationUpdated, decode_persistent
from tests.support.api import SettableClock
from tests.support.tcp_forwarder import forwarding

# More than two rounds' worth, so that the wakers' rounds overlap and skip each other's rows.
CONVERSATIONS = WAKE_BATCH * 2 + 50
WAKERS = 3


@dataclass
class Desks:
    store: Store  # on an engine of its own, as the test's "client"
    clock: SettableClock
    admins: dict[int, int]  # account -> its admin's user id
    inboxes: dict[int, tuple[int, int]]  # account -> (inbox, contact)

    async def snoozed(self, account_id: int, until: datetime) -> int:
        inbox, contact = self.inboxes[account_id]
        body = ConversationCreate(inbox_id=inbox, contact_id=contact)
        conversation = await self.store.open_conversation(account_id, body)
        changes = {"status": ConversationStatus.SNOOZED, "snoozed_until": until}
        await self.store.change_conversation(
            account_id, self.admins[account_id], conversation.id, changes, [1]
        )
        return conversation.id

    async def still_snoozed(self) -> int:
        async with self.store.engine.connect() as connection:
            found = await connection.execute(
                select(func.count()).where(
                    col(Conversation.status) == ConversationStatus.SNOOZED.value
                )
            )
            return int(found.scalar_one())


@pytest.fixture
async def desks(database: tuple[str, list[int]]) -> AsyncIterator[Desks]:
    database_url, accounts = database
    clock = SettableClock()
    engine = make_engine(database_url)
    store = store_for(engine, clock=clock)
    try:
        async with engine.connect() as connection:
            users = await connection.execute(select(col(User.account_id), col(User.id)))
            admins = {account: user for account, user in users if user is not None}
        inboxes = {}
        for account in accounts:
            inbox = await store.create_inbox(account, "Web")
            contact = await store.create_contact(account, ContactCreate(name="Jo"))
            inboxes[account] = (inbox.id, contact.id)
        yield Desks(store, clock, admins, inboxes)
    finally:
        await engine.dispose()


async def test_several_wakers_on_one_database_wake_each_conversation_once(
    desks: Desks, database: tuple[str, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    database_url, accounts = database
    # Snoozed a minute ago, until a second later: all due at once when the wakers start.
    minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    desks.clock.fixed = minute_ago
    until = minute_ago + timedelta(seconds=1)
    # Interleaved accounts: each round's batch spans both, as the counters' lock order must.
    snoozed = [
        await desks.snoozed(accounts[n % len(accounts)], until) for n in range(CONVERSATIONS)
    ]
    desks.clock.fixed = None
    engines = [make_engine(database_url) for _ in range(WAKERS)]
    wakers = [SnoozeWaker(store_for(engine), check_interval_s=0.2) for engine in engines]
    try:
        tasks = [asyncio.create_task(waker.run()) for waker in wakers]
        deadline = time.monotonic() + 20
        while await desks.still_snoozed():
            assert time.monotonic() < deadline, "not every conversation woke up"
            assert not any(task.done() for task in tasks), [t.exception() for t in tasks]
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a second wake of one conversation would show by now
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for engine in engines:
            await engine.dispose()

    async with desks.store.engine.connect() as connection:
        events = (
            await connection.execute(
                select(col(Event.account_id), col(Event.offset), col(Event.payload)).order_by(
                    col(Event.account_id), col(Event.offset)
                )
            )
        ).all()
        counters = await connection.execute(
            select(col(AccountOffset.account_id), col(AccountOffset.last_offset))
        )
        last = {int(account): int(offset) for account, offset in counters}
    wakes = []
    for account in accounts:
        offsets = [offset for a, offset, _ in events if a == account]
        assert offsets == list(range(1, last[account] + 1)), "gapless, from 1, in each account"
    for _, _, payload in events:
        event = decode_persistent(payload)
        if isinstance(event, ConversationUpdated) and event.data.by is None:
            assert event.data.changed == ("status", "snoozed_until")
            assert event.data.conversation.status is ConversationStatus.OPEN
            wakes.append(event.conversation_id)
    assert sorted(wakes) == sorted(snoozed)  # each woke, and once
    assert "snooze wake-up failed" not in caplog.text  # no deadlock, no retry


async def test_a_waker_that_loses_the_database_waits_and_wakes_what_came_due_meanwhile(
    desks: Desks, database: tuple[str, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    database_url, accounts = database
    url = make_url(database_url)
    caplog.set_level(logging.WARNING, logger="livedesk.api.snooze")
    with forwarding(url.host or "127.0.0.1", url.port or 5432) as link:
        engine = make_engine(url.set(port=link.port).render_as_string(hide_password=False))
        task = asyncio.create_task(SnoozeWaker(store_for(engine), check_interval_s=0.2).run())
        try:
            await asyncio.sleep(0.3)  # its first rounds, with the pool's connection open
            link.cut()
            conversation_id = await desks.snoozed(
                accounts[0], datetime.now(UTC) + timedelta(seconds=0.3)
            )
            await asyncio.sleep(1.5)
            assert not task.done(), task.exception()
            assert await desks.still_snoozed() == 1  # due, but the waker cannot reach it
            link.restore()
            deadline = time.monotonic() + 15
            while await desks.still_snoozed():
                assert time.monotonic() < deadline, "the waker did not resume"
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await engine.dispose()
    assert "snooze wake-up failed, retrying" in caplog.text
    async with desks.store.engine.connect() as connection:
        status = await connection.execute(
            select(col(Conversation.status)).where(col(Conversation.id) == conversation_id)
        )
        assert status.scalar_one() == ConversationStatus.OPEN.value
