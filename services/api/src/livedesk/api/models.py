"""The database tables, as SQLModel classes: the schema the migrations create.

Every row that belongs to a tenant carries `account_id`, and every query filters on it, so
a record of another account is simply not found. Two small tables drive the event log:
`account_offsets` (the writers' counter: the last offset handed out, locked by the writing
transaction, which is what makes offsets gapless) and `event_relay` (the relay's cursor and
the retention floor, kept apart so the relay never waits on a writer's lock, nor a writer
on the relay's).

The search indexes (PostgreSQL's GIN indexes on expressions, SQLite's FTS5 tables and their
triggers) are the migration's `0004_inbox_search` alone: they differ by database.

Not here: queries (see the routes and `outbox`), and the wire shapes (see `schemas`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from livedesk.shared.events import AgentStatus, ConversationStatus, MessageKind, SenderType
from livedesk.shared.tokens import Role

# BIGINT on PostgreSQL, but INTEGER on SQLite, where only "INTEGER PRIMARY KEY" is the
# auto-incrementing rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = SQLModel.metadata


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that comes back aware (UTC) from SQLite too, which stores it naive."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _utc() -> UtcDateTime:
    return UtcDateTime()


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=_utc())


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # Unique in an account only: whether an address is taken in another account must
        # not show when an admin adds an agent (docs/security.md). Stored lower-cased.
        sa.UniqueConstraint("account_id", "email", name="uq_users_account_email"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", index=True)
    # Indexed for the login, which looks an address up across accounts.
    email: str = Field(max_length=320, index=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    role: Role = Field(sa_type=sa.String(16))
    availability: AgentStatus = Field(default=AgentStatus.ONLINE, sa_type=sa.String(16))
    created_at: datetime = Field(sa_type=_utc())
    # A disabled user cannot log in or refresh; disabling also revokes every session.
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class Session(SQLModel, table=True):
    """One login: the family of refresh tokens that login's rotations made, revoked as one."""

    __tablename__ = "sessions"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    user_id: int = Field(sa_type=BigId, foreign_key="users.id", index=True)
    created_at: datetime = Field(sa_type=_utc())
    expires_at: datetime = Field(sa_type=_utc())  # the last refresh it allows
    revoked_at: datetime | None = Field(default=None, sa_type=_utc())


class RefreshToken(SQLModel, table=True):
    """A refresh token, by the SHA-256 of its value (random, 32 bytes: no salt needed).
    Used once: a second use means it was stolen, and revokes its session."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(max_length=64, primary_key=True)
    session_id: int = Field(sa_type=BigId, foreign_key="sessions.id", index=True)
    used_at: datetime | None = Field(default=None, sa_type=_utc())


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(sa_type=_utc())


class Inbox(SQLModel, table=True):
    __tablename__ = "inboxes"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=_utc())


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        # The inbox list: newest activity first, per account.
        sa.Index("ix_conversations_account_activity", "account_id", "last_activity_at", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    inbox_id: int = Field(sa_type=BigId, foreign_key="inboxes.id")
    contact_id: int = Field(sa_type=BigId, foreign_key="contacts.id")
    status: ConversationStatus = Field(default=ConversationStatus.OPEN, sa_type=sa.String(16))
    assignee_id: int | None = Field(default=None, sa_type=BigId, foreign_key="users.id")
    # Bumped by every status or assignee change; PATCH compares it (409 when it moved).
    version: int = Field(default=1)
    created_at: datetime = Field(sa_type=_utc())
    last_activity_at: datetime = Field(sa_type=_utc())


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotency: one message per (conversation, client_id). NULLs are distinct in
        # PostgreSQL and SQLite alike, so messages without a client_id never collide.
        sa.UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
        # A conversation's messages in order: the message list and the unread count.
        sa.Index("ix_messages_conversation_id", "conversation_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    conversation_id: int = Field(sa_type=BigId, foreign_key="conversations.id")
    kind: MessageKind = Field(sa_type=sa.String(16))
    content: str = Field(sa_type=sa.Text())
    sender_type: SenderType = Field(sa_type=sa.String(16))
    sender_id: int | None = Field(default=None, sa_type=BigId)
    client_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(sa_type=_utc())


class ReadPointer(SQLModel, table=True):
    __tablename__ = "read_pointers"
    __table_args__ = (
        # Everyone's pointer in one conversation ("seen by").
        sa.Index("ix_read_pointers_conversation_id", "conversation_id"),
    )

    user_id: int = Field(sa_type=BigId, foreign_key="users.id", primary_key=True)
    conversation_id: int = Field(sa_type=BigId, foreign_key="conversations.id", primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    message_id: int = Field(sa_type=BigId)
    updated_at: datetime = Field(sa_type=_utc())


class AccountOffset(SQLModel, table=True):
    """The writers' counter: a write locks this row, takes the next offset(s), commits."""

    __tablename__ = "account_offsets"

    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", primary_key=True)
    last_offset: int = Field(default=0, sa_type=sa.BigInteger())


class EventRelay(SQLModel, table=True):
    """The relay's cursor (published through here) and the retention floor (pruned through)."""

    __tablename__ = "event_relay"

    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", primary_key=True)
    published_offset: int = Field(default=0, sa_type=sa.BigInteger())
    pruned_offset: int = Field(default=0, sa_type=sa.BigInteger())


class Event(SQLModel, table=True):
    """The event log (the outbox): each event's bytes exactly as `events.encode` made them."""

    __tablename__ = "events"

    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", primary_key=True)
    offset: int = Field(sa_type=sa.BigInteger(), primary_key=True)
    type: str = Field(max_length=32)
    conversation_id: int = Field(sa_type=BigId)
    ts: datetime = Field(sa_type=_utc(), index=True)
    payload: bytes = Field(sa_type=sa.LargeBinary())
