"""Messages of a conversation (create, list) and the caller's read pointer.

Creating is idempotent on `client_id`: the same client_id in the same conversation returns
the first message (200, not 201) and emits nothing. Two concurrent posts of one client_id
meet at the unique index: the second insert waits for the first transaction and then does
nothing (ON CONFLICT DO NOTHING), and returns the message the first one committed.
A read pointer only moves forward; moving it emits `message_read`.
On PostgreSQL most message posts never reach this route: `fast_messages` answers those it
can answer exactly as this route would, and hands the rest (every error included) on here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.db import snapshot
from livedesk.api.deps import ApiContext, Caller, Context
from livedesk.api.errors import documented, not_found
from livedesk.api.fields import Cursor, Id
from livedesk.api.models import Conversation, Message, ReadPointer
from livedesk.api.openapi import next_page
from livedesk.api.queries import account_offset, decode_id_cursor, encode_cursor, unread_count
from livedesk.api.schemas import MessageCreate, MessageOut, Page, ReadCreate, ReadOut
from livedesk.shared.events import (
    MessageData,
    MessageKind,
    MessageRead,
    NewMessage,
    ReadData,
    SenderType,
)
from livedesk.shared.tokens import Claims

JSON = "application/json"

router = APIRouter(
    prefix="/v1/conversations/{conversation_id}",
    tags=["messages"],
    responses=documented(401, 404, 422),
)

ConversationId = Annotated[Id, Path()]


@router.post(
    "/messages",
    status_code=201,
    response_model=MessageOut,
    responses={
        200: {"model": MessageOut, "description": "a retry: the first message, unchanged"},
        **documented(413),
    },
)
async def create_message(
    conversation_id: ConversationId, body: MessageCreate, caller: Caller, context: Context
) -> Response:
    # The answer is serialized here, once, by the model's own serializer: FastAPI's
    # response validation would build and check the same model a second time.
    if context.message_writer is not None:
        written = await context.message_writer.post(caller, conversation_id, body)
        if written is None:
            raise not_found("conversation", conversation_id)
        message, created = written.message, written.created
    else:
        message, created = await _create_message(context, caller, conversation_id, body)
    return Response(message.model_dump_json(), 201 if created else 200, media_type=JSON)


async def _create_message(
    context: ApiContext, caller: Claims, conversation_id: int, body: MessageCreate
) -> tuple[MessageOut, bool]:
    """The generic path, in an explicit transaction: SQLite's (see `message_writer`)."""
    account = caller.account_id
    async with context.outbox.write() as unit:
        connection = unit.connection
        contact_id = (
            await connection.execute(
                select(col(Conversation.contact_id)).where(
                    col(Conversation.id) == conversation_id,
                    col(Conversation.account_id) == account,
                )
            )
        ).scalar_one_or_none()
        if contact_id is None:
            raise not_found("conversation", conversation_id)
        if body.client_id is not None and (
            first := await _by_client_id(connection, conversation_id, body.client_id)
        ):
            return first, False
        incoming = body.kind is MessageKind.INCOMING
        now = datetime.now(UTC)
        insert = _insert(connection)(Message).values(
            account_id=account,
            conversation_id=conversation_id,
            kind=body.kind.value,
            content=body.content,
            sender_type=(SenderType.CONTACT if incoming else SenderType.AGENT).value,
            sender_id=contact_id if incoming else caller.user_id,
            client_id=body.client_id,
            created_at=now,
        )
        row = (
            await connection.execute(
                insert.on_conflict_do_nothing(
                    index_elements=["conversation_id", "client_id"]
                ).returning(Message)
            )
        ).first()
        if row is None:  # a concurrent post of this client_id committed first
            assert body.client_id is not None
            first = await _by_client_id(connection, conversation_id, body.client_id)
            assert first is not None, "a conflict on client_id leaves the first message"
            return first, False
        message = MessageOut.model_validate(row._mapping)
        await connection.execute(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(last_activity_at=now)
        )
        data = MessageData.model_validate(message.model_dump(exclude={"account_id"}))
        await unit.emit(
            account,
            lambda offset, ts: NewMessage(
                offset=offset,
                account_id=account,
                conversation_id=conversation_id,
                ts=ts,
                data=data,
            ),
        )
    return message, True


@router.get(
    "/messages",
    responses=next_page("/v1/conversations/{conversation_id}/messages", "conversation_id"),
)
async def list_messages(
    conversation_id: ConversationId,
    caller: Caller,
    context: Context,
    cursor: Cursor | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[MessageOut]:
    """Oldest first; `next_cursor` continues after the last message of this page."""
    after = decode_id_cursor(cursor) if cursor else 0
    async with snapshot(context.engine) as connection:
        await _ensure_conversation(connection, caller.account_id, conversation_id)
        rows = (
            await connection.execute(
                select(Message)
                .where(col(Message.conversation_id) == conversation_id, col(Message.id) > after)
                .order_by(col(Message.id))
                .limit(limit + 1)
            )
        ).all()
        offset = await account_offset(connection, caller.account_id)
    items = [MessageOut.model_validate(row._mapping) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor, offset=offset)


@router.post("/read", responses=documented(413))
async def mark_read(
    conversation_id: ConversationId, body: ReadCreate, caller: Caller, context: Context
) -> ReadOut:
    account, user = caller.account_id, caller.user_id
    async with context.outbox.write() as unit:
        connection = unit.connection
        await _ensure_conversation(connection, account, conversation_id)
        found = (
            await connection.execute(
                select(col(Message.id)).where(
                    col(Message.id) == body.message_id,
                    col(Message.conversation_id) == conversation_id,
                )
            )
        ).first()
        if found is None:
            raise not_found("message", body.message_id)
        upsert = _insert(connection)(ReadPointer).values(
            user_id=user,
            conversation_id=conversation_id,
            account_id=account,
            message_id=body.message_id,
            updated_at=datetime.now(UTC),
        )
        moved = (
            await connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=["user_id", "conversation_id"],
                    set_={
                        "message_id": upsert.excluded.message_id,
                        "updated_at": upsert.excluded.updated_at,
                    },
                    # Only forward: an older tab marking an older message changes nothing.
                    where=col(ReadPointer.message_id) < upsert.excluded.message_id,
                ).returning(col(ReadPointer.message_id))
            )
        ).first()
        pointer = body.message_id
        if moved is None:
            pointer = (
                await connection.execute(
                    select(col(ReadPointer.message_id)).where(
                        col(ReadPointer.user_id) == user,
                        col(ReadPointer.conversation_id) == conversation_id,
                    )
                )
            ).scalar_one()
        else:
            read = ReadData(user_id=user, message_id=body.message_id)
            await unit.emit(
                account,
                lambda offset, ts: MessageRead(
                    offset=offset,
                    account_id=account,
                    conversation_id=conversation_id,
                    ts=ts,
                    data=read,
                ),
            )
        unread = (
            await connection.execute(select(unread_count(user, conversation_id)))
        ).scalar_one()
    return ReadOut(
        conversation_id=conversation_id, user_id=user, message_id=pointer, unread_count=unread
    )


def _insert(connection: AsyncConnection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite alike)."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


async def _by_client_id(
    connection: AsyncConnection, conversation_id: int, client_id: str
) -> MessageOut | None:
    row = (
        await connection.execute(
            select(Message).where(
                col(Message.conversation_id) == conversation_id,
                col(Message.client_id) == client_id,
            )
        )
    ).first()
    return None if row is None else MessageOut.model_validate(row._mapping)


async def _ensure_conversation(
    connection: AsyncConnection, account_id: int, conversation_id: int
) -> None:
    found = (
        await connection.execute(
            select(col(Conversation.id)).where(
                col(Conversation.id) == conversation_id, col(Conversation.account_id) == account_id
            )
        )
    ).first()
    if found is None:
        raise not_found("conversation", conversation_id)
