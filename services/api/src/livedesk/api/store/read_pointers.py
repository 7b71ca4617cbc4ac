"""The write of a read pointer: how far a user has read a conversation.

A pointer only moves forward (an older tab marking an older message changes nothing);
moving it emits `message_read`. The answer carries the user's unread count after it.
Takes the write's `Unit` and the database's INSERT, the one that knows ON CONFLICT
(`base.Store.insert`). Not here: the count's rule (`queries.unread_count`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from livedesk.api.models import Message, ReadPointer
from livedesk.api.queries import conversation_exists, unread_count
from livedesk.api.schemas import ReadOut
from livedesk.api.store.errors import NotFound
from livedesk.api.store.outbox import Unit
from livedesk.shared.events import MessageRead, ReadData


async def move_read_pointer(
    unit: Unit,
    insert: Any,
    account_id: int,
    user_id: int,
    conversation_id: int,
    message_id: int,
) -> ReadOut:
    connection = unit.connection
    if not await conversation_exists(connection, account_id, conversation_id):
        raise NotFound("conversation", conversation_id)
    found = await connection.execute(
        select(col(Message.id)).where(
            col(Message.id) == message_id, col(Message.conversation_id) == conversation_id
        )
    )
    if found.first() is None:
        raise NotFound("message", message_id)
    upsert = insert(ReadPointer).values(
        user_id=user_id,
        conversation_id=conversation_id,
        account_id=account_id,
        message_id=message_id,
        updated_at=unit.clock(),
    )
    moved = (
        await connection.execute(
            upsert.on_conflict_do_update(
                index_elements=["user_id", "conversation_id"],
                set_={
                    "message_id": upsert.excluded.message_id,
                    "updated_at": upsert.excluded.updated_at,
                },
                where=col(ReadPointer.message_id) < upsert.excluded.message_id,
            ).returning(col(ReadPointer.message_id))
        )
    ).first()
    pointer = message_id
    if moved is None:
        pointer = (
            await connection.execute(
                select(col(ReadPointer.message_id)).where(
                    col(ReadPointer.user_id) == user_id,
                    col(ReadPointer.conversation_id) == conversation_id,
                )
            )
        ).scalar_one()
    else:
        read = ReadData(user_id=user_id, message_id=message_id)
        await unit.emit(
            account_id,
            lambda offset, ts: MessageRead(
                offset=offset,
                account_id=account_id,
                conversation_id=conversation_id,
                ts=ts,
                data=read,
            ),
        )
    unread = (await connection.execute(select(unread_count(user_id, conversation_id)))).scalar_one()
    return ReadOut(
        conversation_id=conversation_id, user_id=user_id, message_id=pointer, unread_count=unread
    )
