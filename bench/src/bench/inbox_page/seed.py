"""A big inbox for the page bench: one account with many conversations and one long one.

Every row is written through the API's store (`store_for`), the code REST calls, so the
conversations, messages, events and offsets are exactly the API's own (and whatever the
store keeps beside them, such as a search index, is kept too). The store's clock is a
parameter: the seed dates its writes over the past two days, a minute or so apart, so the
list has an order and the long conversation spans days, as a real one would.
Deliberately not here: starting the server, and what is measured (`measure`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.accounts import create_account
from livedesk.api.passwords import Passwords
from livedesk.api.queries import account_offset
from livedesk.api.schemas import ContactCreate, ConversationCreate, MessageCreate
from livedesk.api.store.authorship import Import
from livedesk.api.store.base import Store
from livedesk.api.store.choice import store_for
from livedesk.api.store.directory import CreatedAccount
from livedesk.shared.events import MessageKind

ADMIN_EMAIL: Final = "admin@inbox.bench.example"
PASSWORD: Final = "bench-password-1"
HISTORY: Final = timedelta(days=2)
# A contact writes in to several conversations over time, as real customers do.
CONVERSATIONS_PER_CONTACT: Final = 4
FIRST_NAMES: Final = ("Ana", "Bruno", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana")
LAST_NAMES: Final = ("Silva", "Okafor", "Nakamura", "Larsen", "Haddad", "Novak", "Reyes")
TOPICS: Final = (
    "my order has not arrived yet",
    "I was charged twice this month",
    "how do I change the e-mail on my account?",
    "the app logs me out every few minutes",
    "can I get an invoice for last quarter?",
)


@dataclass(frozen=True)
class Seeded:
    account_id: int
    admin_id: int
    first_conversation_id: int
    long_conversation_id: int  # the last, most recently active
    last_message_id: int  # the long conversation's newest
    conversations: int
    offset: int  # the account's last event offset


class SeedClock:
    """The store's clock: starts `HISTORY` ago and moves by `step` at each reading, so that
    every write is dated after the one before it and the last lands near now."""

    def __init__(self, writes: int, now: datetime) -> None:
        self._step = HISTORY / max(writes, 1)
        self._time = now - HISTORY

    def __call__(self) -> datetime:
        self._time += self._step
        return self._time


def contact_names(seed: int) -> Iterator[tuple[str, str]]:
    chooser = random.Random(seed)
    for number in range(1, 1_000_000_000):
        first, last = chooser.choice(FIRST_NAMES), chooser.choice(LAST_NAMES)
        yield f"{first} {last}", f"{first.lower()}.{last.lower()}.{number}@customer.example"


async def seed_inbox(
    engine: AsyncEngine, *, conversations: int, long_messages: int, seed: int = 7
) -> Seeded:
    """`conversations` conversations, each with the contact's first message, and the last
    of them (the most recently active) with `long_messages` messages more, alternating
    between the contact and the admin, a note now and then."""
    created = await create_account(
        engine,
        Passwords(time_cost=1, memory_kib=8),
        name="Inbox bench",
        email=ADMIN_EMAIL,
        password=PASSWORD,
        admin_name="Bench Admin",
    )
    # Three readings of the clock per conversation (contact, conversation, message) at most.
    clock = SeedClock(3 * conversations + long_messages, datetime.now(UTC))
    store = store_for(engine, clock=clock)
    # What the store holds beside the engine (PostgreSQL's message writes' pool) is open
    # while `run` runs, as the API runs it beside its server.
    holding = asyncio.create_task(store.run())
    try:
        return await _write(store, created, conversations, long_messages, seed)
    finally:
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)


async def _write(
    store: Store, created: CreatedAccount, conversations: int, long_messages: int, seed: int
) -> Seeded:
    account = created.account_id
    inbox = await store.create_inbox(account, "Website chat")
    names = contact_names(seed)
    topics = random.Random(seed)
    contact_id = 0
    conversation_ids: list[int] = []
    for number in range(conversations):
        if number % CONVERSATIONS_PER_CONTACT == 0:
            name, email = next(names)
            contact = ContactCreate(name=name, email=email)
            contact_id = (await store.create_contact(account, contact)).id
        body = ConversationCreate(inbox_id=inbox.id, contact_id=contact_id)
        conversation_id = (await store.open_conversation(account, body)).id
        conversation_ids.append(conversation_id)
        first = MessageCreate(content=f"Hi, {topics.choice(TOPICS)}", kind=MessageKind.INCOMING)
        await store.post_message(account, created.user_id, conversation_id, first, Import())
    conversation_id = conversation_ids[-1]
    last_message_id = 0
    for number in range(long_messages):
        kind = (MessageKind.INCOMING, MessageKind.OUTGOING, MessageKind.NOTE)[
            0 if number % 2 == 0 else (2 if number % 10 == 9 else 1)
        ]
        message = MessageCreate(content=f"Message {number + 1}: {topics.choice(TOPICS)}", kind=kind)
        posted = await store.post_message(
            account, created.user_id, conversation_id, message, Import()
        )
        last_message_id = posted.message.id
    async with store.snapshot() as connection:
        offset = await account_offset(connection, account)
    return Seeded(
        account_id=account,
        admin_id=created.user_id,
        first_conversation_id=conversation_ids[0],
        long_conversation_id=conversation_ids[-1],
        last_message_id=last_message_id,
        conversations=conversations,
        offset=offset,
    )
