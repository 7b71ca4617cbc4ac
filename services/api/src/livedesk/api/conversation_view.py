"""Conversations as the API shows them: the row, the caller's unread count, the contact and
the newest message, read in one snapshot.

The contact and the newest message are joined at read time, each an index probe per
conversation (contacts by primary key; messages on (conversation_id, id), newest first), so
posting a message writes nothing more than before. The newest messages of a page are read
in a second statement, by id, so the list's own query stays a walk along its index.
Not here: the writes (the store's) and the list's filters and paging (the route's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.models import Contact, Conversation, Message
from livedesk.api.queries import unread_count
from livedesk.api.schemas import ContactSummary, ConversationOut, LastMessage
from livedesk.shared.events import ConversationData

PREVIEW_CHARS: Final = 140
# The part of a message read for its preview: enough that collapsing white space still
# leaves PREVIEW_CHARS in any ordinary message, without reading whole messages for a list.
PREVIEW_SOURCE_CHARS: Final = 4 * PREVIEW_CHARS


def conversation_query(user_id: int) -> Any:
    """Conversations (join and filter further) with what `conversations_out` needs."""
    newest = (
        select(col(Message.id))
        .where(col(Message.conversation_id) == col(Conversation.id))
        .order_by(col(Message.id).desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    return select(
        Conversation,
        unread_count(user_id, col(Conversation.id)).label("unread"),
        col(Contact.name).label("contact_name"),
        col(Contact.email).label("contact_email"),
        newest.label("last_message_id"),
    ).join(Contact, col(Contact.id) == col(Conversation.contact_id))


async def conversations_out(
    connection: AsyncConnection, rows: Sequence[Row[Any]]
) -> list[ConversationOut]:
    """`conversation_query`'s rows as the API shows them, in their order."""
    ids = [row.last_message_id for row in rows if row.last_message_id is not None]
    newest: dict[int, LastMessage] = {}
    if ids:
        found = await connection.execute(
            select(
                col(Message.id),
                col(Message.kind),
                col(Message.sender_type),
                col(Message.sender_id),
                func.substr(col(Message.content), 1, PREVIEW_SOURCE_CHARS).label("start"),
                col(Message.created_at),
            ).where(col(Message.id).in_(ids))
        )
        for message in found:
            fields = dict(message._mapping)
            fields["preview"] = preview(fields.pop("start"))
            newest[message.id] = LastMessage.model_validate(fields)
    return [_conversation_out(row, newest.get(row.last_message_id)) for row in rows]


async def find_conversation(
    connection: AsyncConnection, account_id: int, conversation_id: int, user_id: int
) -> ConversationOut | None:
    rows = (
        await connection.execute(
            conversation_query(user_id).where(
                col(Conversation.id) == conversation_id,
                col(Conversation.account_id) == account_id,
            )
        )
    ).all()
    found = await conversations_out(connection, rows)
    return found[0] if found else None


def preview(content: str) -> str:
    return " ".join(content.split())[:PREVIEW_CHARS].rstrip()


def conversation_data(conversation: ConversationOut) -> ConversationData:
    """The event's form: the conversation alone (clients look its contact up by id)."""
    return ConversationData.model_validate(
        conversation.model_dump(exclude={"account_id", "unread_count", "contact", "last_message"})
    )


def _conversation_out(row: Row[Any], last_message: LastMessage | None) -> ConversationOut:
    data = dict(row._mapping)
    contact = ContactSummary(
        id=data["contact_id"], name=data.pop("contact_name"), email=data.pop("contact_email")
    )
    data.pop("last_message_id")
    data["unread_count"] = data.pop("unread", 0) or 0
    return ConversationOut.model_validate(
        {**data, "contact": contact, "last_message": last_message}
    )
