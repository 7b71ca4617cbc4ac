"""Queries the routes and the store share: the account's offset, account-scoped lookups,
unread counts, and opaque cursors. Every lookup takes the caller's account and filters on it.

Not here: writes (the store's).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.fields import MAX_ID
from livedesk.api.models import AccountOffset, Conversation, Message, ReadPointer, User
from livedesk.shared.errors import LivedeskError
from livedesk.shared.events import SenderType

# An agent as the API shows one: every column of a user but the password's hash.
AGENT_COLUMNS = (
    col(User.id),
    col(User.account_id),
    col(User.email),
    col(User.name),
    col(User.role),
    col(User.availability),
    col(User.created_at),
    col(User.disabled),
)


class InvalidCursor(LivedeskError):
    """A page cursor this API did not make; `errors`' handler answers it with a 422."""

    message = "cursor: not a cursor this API made"

    def __init__(self) -> None:
        super().__init__(self.message)


async def account_offset(connection: AsyncConnection, account_id: int) -> int:
    offset = (
        await connection.execute(
            select(col(AccountOffset.last_offset)).where(
                col(AccountOffset.account_id) == account_id
            )
        )
    ).scalar_one_or_none()
    return int(offset or 0)


def unread_count(user_id: int, conversation_id: Any) -> ColumnElement[int]:
    """The user's unread messages in a conversation (a scalar subquery): those after the
    user's read pointer (all of them without one), except those the user wrote.

    A colleague's reply or note counts; the contact's messages count; the user's own replies
    and notes never do. `conversation_id` is a number, or the column of an enclosing query.
    """
    pointer = (
        select(col(ReadPointer.message_id))
        .where(
            col(ReadPointer.user_id) == user_id,
            col(ReadPointer.conversation_id) == conversation_id,
        )
        # Correlate to whichever enclosing query names the conversation. Left to itself,
        # SQLAlchemy correlates only to the count around it, which has no conversations in
        # its FROM: the pointer would select every pointer the user has (an error on one
        # database, silently the first pointer on the other).
        .correlate_except(ReadPointer)
        .scalar_subquery()
    )
    own = (col(Message.sender_type) == SenderType.AGENT.value) & (col(Message.sender_id) == user_id)
    return (
        select(func.count())
        .where(
            col(Message.conversation_id) == conversation_id,
            col(Message.id) > func.coalesce(pointer, 0),
            ~own,
        )
        .scalar_subquery()
    )


async def conversation_exists(
    connection: AsyncConnection, account_id: int, conversation_id: int
) -> bool:
    found = await connection.execute(
        select(col(Conversation.id)).where(
            col(Conversation.id) == conversation_id, col(Conversation.account_id) == account_id
        )
    )
    return found.first() is not None


def encode_cursor(*parts: object) -> str:
    raw = "|".join(str(part) for part in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _not_ours() from None
    parts = raw.split("|")
    if len(parts) != count:
        raise _not_ours()
    return parts


def decode_id_cursor(cursor: str) -> int:
    return cursor_id(decode_cursor(cursor, 1)[0])


# The list's order (and search's): newest activity first, along the account's index.
NEWEST_ACTIVITY_FIRST = (col(Conversation.last_activity_at).desc(), col(Conversation.id).desc())


def activity_cursor(last_activity_at: datetime, conversation_id: int) -> str:
    """The cursor after this conversation in `NEWEST_ACTIVITY_FIRST` order."""
    return encode_cursor(last_activity_at.isoformat(), conversation_id)


def after_activity_cursor(cursor: str) -> ColumnElement[bool]:
    """The conversations after `cursor` (an `activity_cursor`) in that order."""
    moment_part, id_part = decode_cursor(cursor, 2)
    moment, ident = cursor_moment(moment_part), cursor_id(id_part)
    activity = col(Conversation.last_activity_at)
    return or_(activity < moment, and_(activity == moment, col(Conversation.id) < ident))


def cursor_id(part: str) -> int:
    """An id as this API writes one into a cursor: decimal digits, within `MAX_ID`."""
    # Checked before int(): the databases hold 64-bit integers, and a bigger number would
    # reach them as a driver error (500); int() also reads "١٢" and "1_000".
    if not part.isascii() or not part.isdigit() or len(part) > len(str(MAX_ID)):
        raise _not_ours()
    ident = int(part)
    if ident > MAX_ID:
        raise _not_ours()
    return ident


def cursor_moment(part: str) -> datetime:
    """A timestamp as this API writes one into a cursor: ISO 8601 with its offset, in UTC."""
    try:
        moment = datetime.fromisoformat(part)
        if moment.tzinfo is None:
            raise ValueError(part)
        # Within Python's years 1..9999 in UTC too: the driver converts it so.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _not_ours() from None


def _not_ours() -> InvalidCursor:
    return InvalidCursor()
