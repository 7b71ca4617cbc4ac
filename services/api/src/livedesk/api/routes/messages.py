"""Messages of a conversation (post, list either way) and read pointers (move the caller's,
list everyone's).

Agents post replies and notes; an admin imports a message of any kind, with its original
time (`messages:import`); the rule is the store's (`store.authorship`). Posting is
idempotent on `client_id`: the same client_id in the same conversation answers
200 with the first message, unchanged (a new one: 201). A read pointer only moves forward.
The writes and their events are the store's. Most posts are answered before FastAPI by
`fast_messages`, with the same store write and the same answers; what it cannot answer
exactly as this route would (every error included) comes here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Admin, Caller, Context
from livedesk.api.errors import documented, not_found
from livedesk.api.fields import Cursor, Id
from livedesk.api.models import Message, ReadPointer
from livedesk.api.openapi import next_page
from livedesk.api.queries import (
    account_offset,
    conversation_exists,
    decode_id_cursor,
    encode_cursor,
)
from livedesk.api.schemas import (
    MessageCreate,
    MessageImport,
    MessageOut,
    Page,
    ReadCreate,
    ReadOut,
    ReadPointerOut,
    ReadPointers,
)
from livedesk.api.store.authorship import Import
from livedesk.api.store.base import Posted

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
        **documented(403, 413),
    },
)
async def create_message(
    conversation_id: ConversationId, body: MessageCreate, caller: Caller, context: Context
) -> Response:
    posted = await context.store.post_message(
        caller.account_id, caller.user_id, conversation_id, body
    )
    return _written(posted)


@router.post(
    "/messages:import",
    status_code=201,
    response_model=MessageOut,
    responses={
        200: {"model": MessageOut, "description": "a retry: the first message, unchanged"},
        **documented(403, 413),
    },
)
async def import_message(
    conversation_id: ConversationId, body: MessageImport, caller: Admin, context: Context
) -> Response:
    """An admin's import of a message written elsewhere: any kind (`incoming` by default:
    the contact's), dated `created_at`. It takes its place after the conversation's
    messages and gets the next event offset, as a post does; retries as a post's do."""
    imported = Import(body.created_at)
    create = MessageCreate(content=body.content, kind=body.kind, client_id=body.client_id)
    posted = await context.store.post_message(
        caller.account_id, caller.user_id, conversation_id, create, imported
    )
    return _written(posted)


def _written(posted: Posted) -> Response:
    """201 with the message, or 200 with the first one for a retry. Serialized here, once,
    by the model's own serializer: FastAPI's response validation would build and check the
    same model a second time."""
    answer = posted.message.model_dump_json()
    return Response(answer, 201 if posted.created else 200, media_type=JSON)


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
    order: Annotated[
        Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest first")
    ] = "asc",
) -> Page[MessageOut]:
    """`next_cursor` continues after the last message of this page: to newer messages in
    `asc` order, to older ones in `desc` (a conversation view loads its newest page with
    `desc`, then older pages as the agent scrolls up)."""
    query = select(Message).where(col(Message.conversation_id) == conversation_id)
    if order == "asc":
        after = decode_id_cursor(cursor) if cursor else 0
        query = query.where(col(Message.id) > after).order_by(col(Message.id))
    else:
        if cursor:
            query = query.where(col(Message.id) < decode_id_cursor(cursor))
        query = query.order_by(col(Message.id).desc())
    async with context.store.snapshot() as connection:
        if not await conversation_exists(connection, caller.account_id, conversation_id):
            raise not_found("conversation", conversation_id)
        rows = (await connection.execute(query.limit(limit + 1))).all()
        offset = await account_offset(connection, caller.account_id)
    items = [MessageOut.model_validate(row._mapping) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor, offset=offset)


@router.post("/read", responses=documented(413))
async def mark_read(
    conversation_id: ConversationId, body: ReadCreate, caller: Caller, context: Context
) -> ReadOut:
    return await context.store.move_read_pointer(
        caller.account_id, caller.user_id, conversation_id, body.message_id
    )


@router.get("/reads")
async def list_read_pointers(
    conversation_id: ConversationId, caller: Caller, context: Context
) -> ReadPointers:
    """Every agent's read pointer in the conversation (for "seen by"); `message_read`
    events move them afterwards."""
    async with context.store.snapshot() as connection:
        if not await conversation_exists(connection, caller.account_id, conversation_id):
            raise not_found("conversation", conversation_id)
        rows = await connection.execute(
            select(
                col(ReadPointer.user_id),
                col(ReadPointer.message_id),
                col(ReadPointer.updated_at),
            )
            .where(col(ReadPointer.conversation_id) == conversation_id)
            .order_by(col(ReadPointer.user_id))
        )
        items = [ReadPointerOut.model_validate(row._mapping) for row in rows]
    return ReadPointers(items=items)
