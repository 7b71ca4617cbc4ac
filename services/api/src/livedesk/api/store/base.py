"""The store's interface: every write the API makes, each committed with its events.

A write runs in `_write()`, the outbox's transaction: the write and the events it emits
commit together, and once the commit has returned, the relay is told which (`committed`).
The writes whose SQL both databases share are written once, here and in `directory`,
`conversations` and `read_pointers`. Each database's store adds what differs: the snapshot
a read runs in, the INSERT that knows ON CONFLICT, the message write, and the relay's
claims on the log (`RelayLog`).

Time comes from `clock`, so that tests can fix it. Not here: reads that write nothing
(routes and `queries`, inside `snapshot()`), and publishing (`relay`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from livedesk.api.commit_times import EventKey
from livedesk.api.schemas import (
    AgentOut,
    ContactOut,
    ConversationCreate,
    ConversationOut,
    InboxOut,
    MessageCreate,
    MessageOut,
    ReadOut,
)
from livedesk.api.store import conversations, directory, read_pointers, sessions
from livedesk.api.store.authorship import Import, check_kind
from livedesk.api.store.directory import CreatedAccount
from livedesk.api.store.errors import AlreadyRegistered
from livedesk.api.store.outbox import Clock, Unit
from livedesk.api.store.search import SearchIndex
from livedesk.api.store.sessions import Revoked, Started
from livedesk.shared.events import MessageKind, SenderType
from livedesk.shared.tokens import Role

# Told the events (account, offset) a write committed, right after its commit returned.
Committed = Callable[[list[EventKey]], None]
# An event as the relay reads it: account, offset, conversation, type, ts, payload.
Row = tuple[int, int, int, str, datetime, bytes]


def utc_now() -> datetime:
    return datetime.now(UTC)


def sender_type(kind: MessageKind) -> SenderType:
    """Who a message of this kind is from: an incoming one is the contact's."""
    return SenderType.CONTACT if kind is MessageKind.INCOMING else SenderType.AGENT


@dataclass(frozen=True, slots=True)
class Posted:
    message: MessageOut
    created: bool  # False: the client_id existed, and this is the first message, unchanged


@dataclass
class Claim:
    """What one relay round holds: the accounts it claimed, the events it read for them,
    and how far it published each account's events (set before the round commits)."""

    accounts: set[int]
    rows: list[Row]
    published: dict[int, int] = field(default_factory=dict)


class RelayLog(ABC):
    """The event log as the relay reads it, on a connection of its own while it is open."""

    # What a round raises while the database is away, besides SQLAlchemy's DBAPIError.
    failures: ClassVar[tuple[type[Exception], ...]] = ()

    @abstractmethod
    def claim(
        self, accounts: Collection[int] | None, max_accounts: int, batch_size: int
    ) -> AbstractAsyncContextManager[Claim]:
        """Claim up to `max_accounts` of `accounts` (None: of all) that have unpublished
        events, lowest first, skipping those another relay holds; read their next events in
        offset order, `batch_size` shared among them (each at most `max(1, batch_size //
        claimed)`). On a clean exit move each account's cursor to `published` and commit,
        which releases the claims; on an error release them and move nothing."""


class Store(ABC):
    # The database's INSERT construct, the one that knows ON CONFLICT.
    insert: ClassVar[Callable[..., Any]]
    # The database's full-text search (read inside `snapshot()`).
    search: ClassVar[SearchIndex]

    def __init__(
        self, engine: AsyncEngine, committed: Committed | None = None, clock: Clock = utc_now
    ) -> None:
        self.engine = engine
        self._committed: Committed = committed or (lambda _events: None)
        self._clock = clock

    @abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read-only transaction in which every statement sees the same snapshot."""

    @abstractmethod
    def relay_log(self) -> AbstractAsyncContextManager[RelayLog]:
        """The log for one relay, open while the block runs."""

    @abstractmethod
    async def run(self) -> None:
        """Hold open what the store keeps beside the engine, until cancelled."""

    async def post_message(
        self,
        account_id: int,
        user_id: int,
        conversation_id: int,
        body: MessageCreate,
        imported: Import | None = None,
    ) -> Posted:
        """`body` posted by the user, now; or `imported` by an admin, dated its original
        time. `KindRefused`: a kind the writer may not write (`authorship`). Idempotent on
        `client_id`: the same client_id in the same conversation gives the first message
        back (`created` False) and emits nothing, concurrent posts included. Else the
        message and its `new_message` commit together (the event's offset and `ts` are the
        write's, whatever the message's `created_at`), and the conversation's last activity
        moves to the write's time. `NotFound`: not a conversation of the account."""
        check_kind(body.kind, imported)
        created_at = imported.created_at if imported else None
        return await self._write_message(account_id, user_id, conversation_id, body, created_at)

    @abstractmethod
    async def _write_message(
        self,
        account_id: int,
        user_id: int,
        conversation_id: int,
        body: MessageCreate,
        created_at: datetime | None,
    ) -> Posted:
        """`post_message` once its kind is allowed; `created_at` None: the write's time."""

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Unit]:
        async with self.engine.begin() as connection:
            unit = Unit(connection, self._clock)
            yield unit
        if unit.events:  # reached only once the commit succeeded
            self._committed(unit.events)

    async def create_account(
        self, *, name: str, email: str, password_hash: str, admin_name: str
    ) -> CreatedAccount:
        try:
            async with self._write() as unit:
                return await directory.create_account(
                    unit, name=name, email=email, password_hash=password_hash, admin_name=admin_name
                )
        except IntegrityError:
            raise AlreadyRegistered(email) from None

    async def create_agent(
        self, account_id: int, *, email: str, name: str, password_hash: str, role: Role
    ) -> AgentOut:
        try:
            async with self._write() as unit:
                return await directory.create_agent(
                    unit, account_id, email=email, name=name, password_hash=password_hash, role=role
                )
        except IntegrityError:
            raise AlreadyRegistered(email) from None

    async def patch_agent(
        self, account_id: int, agent_id: int, changes: Mapping[str, Any]
    ) -> AgentOut:
        async with self._write() as unit:
            return await directory.patch_agent(unit, account_id, agent_id, changes)

    async def start_session(self, user_id: int, lifetime: timedelta) -> Started | None:
        async with self._write() as unit:
            return await sessions.start(unit, user_id, lifetime)

    async def rotate_refresh_token(self, token: str) -> Started | Revoked | None:
        async with self._write() as unit:
            return await sessions.rotate(unit, token)

    async def end_session(self, refresh_token: str) -> Revoked | None:
        """Revoke the session of the refresh token (None: none, or ended already)."""
        async with self._write() as unit:
            session_id = await sessions.session_of(unit, refresh_token)
            return None if session_id is None else await sessions.revoke_session(unit, session_id)

    async def revoke_sessions(
        self, account_id: int, agent_id: int, keep: Collection[int] = ()
    ) -> Revoked:
        """Every session of the account's agent but `keep`; `NotFound` if no such agent."""
        async with self._write() as unit:
            await directory.patch_agent(unit, account_id, agent_id, {})
            return await sessions.revoke_user(unit, account_id, agent_id, keep)

    async def set_disabled(
        self, account_id: int, agent_id: int, disabled: bool
    ) -> tuple[AgentOut, Revoked | None]:
        """Disabling revokes every session in the same transaction: no refresh slips by."""
        async with self._write() as unit:
            agent = await directory.patch_agent(unit, account_id, agent_id, {"disabled": disabled})
            if not disabled:
                return agent, None
            return agent, await sessions.revoke_user(unit, account_id, agent_id)

    async def set_password(
        self, account_id: int, agent_id: int, password_hash: str, keep: Collection[int] = ()
    ) -> Revoked:
        """A new password ends every session of the agent but `keep`."""
        async with self._write() as unit:
            changes = {"password_hash": password_hash}
            await directory.patch_agent(unit, account_id, agent_id, changes)
            return await sessions.revoke_user(unit, account_id, agent_id, keep)

    async def replace_password_hash(self, account_id: int, user_id: int, new_hash: str) -> None:
        async with self._write() as unit:
            await directory.replace_password_hash(unit, account_id, user_id, new_hash)

    async def create_inbox(self, account_id: int, name: str) -> InboxOut:
        async with self._write() as unit:
            return await directory.create_inbox(unit, account_id, name)

    async def create_contact(self, account_id: int, name: str, email: str | None) -> ContactOut:
        async with self._write() as unit:
            return await directory.create_contact(unit, account_id, name, email)

    async def open_conversation(self, account_id: int, body: ConversationCreate) -> ConversationOut:
        async with self._write() as unit:
            return await conversations.open_conversation(unit, account_id, body)

    async def change_conversation(
        self,
        account_id: int,
        user_id: int,
        conversation_id: int,
        changes: Mapping[str, Any],
        expected_versions: Sequence[int],
    ) -> ConversationOut:
        async with self._write() as unit:
            return await conversations.change_conversation(
                unit, account_id, user_id, conversation_id, changes, expected_versions
            )

    async def move_read_pointer(
        self, account_id: int, user_id: int, conversation_id: int, message_id: int
    ) -> ReadOut:
        async with self._write() as unit:
            return await read_pointers.move_read_pointer(
                unit, self.insert, account_id, user_id, conversation_id, message_id
            )
