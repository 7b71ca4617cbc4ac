"""Conversations: open one, list them (filters, cursor pagination), read one, change status
or assignee with optimistic concurrency.

Every change bumps `version`. PATCH takes the version the client saw (If-Match, the
`version` field, or both: each must hold) and answers 409 `version_conflict` when it
moved, so two agents cannot both take one conversation: the second sees it taken. The row
is locked (FOR UPDATE) while compared and changed. Creating emits `new_conversation`; a
status or assignee change emits `conversation_updated` naming the changed fields; a PATCH
that changes nothing emits nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.db import snapshot
from livedesk.api.deps import Caller, Context
from livedesk.api.errors import ApiError, documented, not_found
from livedesk.api.fields import AssigneeFilter, Cursor, Id
from livedesk.api.models import Contact, Conversation, Inbox
from livedesk.api.openapi import next_page
from livedesk.api.queries import (
    account_offset,
    conversation_data,
    conversation_out,
    conversation_query,
    cursor_id,
    cursor_moment,
    decode_cursor,
    encode_cursor,
    ensure_agent,
    find_conversation,
)
from livedesk.api.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationPatch,
    ConversationRead,
    Page,
)
from livedesk.shared.events import (
    ConversationChange,
    ConversationField,
    ConversationStatus,
    ConversationUpdated,
    NewConversation,
)

router = APIRouter(
    prefix="/v1/conversations", tags=["conversations"], responses=documented(401, 422)
)

CHANGEABLE: tuple[ConversationField, ...] = ("status", "assignee_id")
# A version as If-Match carries it: 3, "3" or W/"3" (the ETag this API sends is "3").
# One pattern for the check and for the OpenAPI document.
IF_MATCH = r'^\s*(?:W/)?"?0*([1-9][0-9]{0,17})"?\s*$'


@router.post("", status_code=201, responses=documented(404, 413))
async def create_conversation(
    body: ConversationCreate, caller: Caller, context: Context, response: Response
) -> ConversationOut:
    account = caller.account_id
    async with context.outbox.write() as unit:
        connection = unit.connection
        await _ensure(connection, Inbox, "inbox", body.inbox_id, account)
        await _ensure(connection, Contact, "contact", body.contact_id, account)
        if body.assignee_id is not None:
            await ensure_agent(connection, account, body.assignee_id)
        now = datetime.now(UTC)
        row = (
            await connection.execute(
                insert(Conversation)
                .values(
                    account_id=account,
                    inbox_id=body.inbox_id,
                    contact_id=body.contact_id,
                    status=ConversationStatus.OPEN.value,
                    assignee_id=body.assignee_id,
                    version=1,
                    created_at=now,
                    last_activity_at=now,
                )
                .returning(Conversation)
            )
        ).one()
        conversation = conversation_out(row)
        data = conversation_data(conversation)
        await unit.emit(
            account,
            lambda offset, ts: NewConversation(
                offset=offset, account_id=account, conversation_id=data.id, ts=ts, data=data
            ),
        )
    response.headers["ETag"] = _etag(conversation.version)
    return conversation


@router.get("", responses=next_page("/v1/conversations"))
async def list_conversations(
    caller: Caller,
    context: Context,
    status: ConversationStatus | None = None,
    assignee: Annotated[
        AssigneeFilter | None, Query(description="me, none or an agent's id")
    ] = None,
    inbox: Annotated[Id | None, Query()] = None,
    cursor: Cursor | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ConversationOut]:
    """Newest activity first. `offset` is the account's event offset as of this read."""
    query = conversation_query(caller.user_id).where(
        col(Conversation.account_id) == caller.account_id
    )
    if status is not None:
        query = query.where(col(Conversation.status) == status.value)
    if assignee == "none":
        query = query.where(col(Conversation.assignee_id).is_(None))
    elif assignee is not None:
        who = caller.user_id if assignee == "me" else assignee
        query = query.where(col(Conversation.assignee_id) == who)
    if inbox is not None:
        query = query.where(col(Conversation.inbox_id) == inbox)
    if cursor:
        moment, ident = _activity_cursor(cursor)
        activity = col(Conversation.last_activity_at)
        query = query.where(
            or_(activity < moment, and_(activity == moment, col(Conversation.id) < ident))
        )
    query = query.order_by(
        col(Conversation.last_activity_at).desc(), col(Conversation.id).desc()
    ).limit(limit + 1)
    async with snapshot(context.engine) as connection:
        rows = (await connection.execute(query)).all()
        offset = await account_offset(connection, caller.account_id)
    items = [conversation_out(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.last_activity_at.isoformat(), last.id)
    return Page(items=items, next_cursor=next_cursor, offset=offset)


@router.get("/{conversation_id}", responses=documented(404))
async def get_conversation(
    conversation_id: Annotated[Id, Path()], caller: Caller, context: Context, response: Response
) -> ConversationRead:
    async with snapshot(context.engine) as connection:
        conversation = await find_conversation(
            connection, caller.account_id, conversation_id, caller.user_id
        )
        offset = await account_offset(connection, caller.account_id)
    response.headers["ETag"] = _etag(conversation.version)
    return ConversationRead(**conversation.model_dump(), offset=offset)


@router.patch("/{conversation_id}", responses=documented(404, 409, 413))
async def patch_conversation(
    conversation_id: Annotated[Id, Path()],
    body: ConversationPatch,
    caller: Caller,
    context: Context,
    response: Response,
    if_match: Annotated[
        str | SkipJsonSchema[None],  # absent or a version: a header is never null
        Header(
            description='the version last seen, as its ETag: "3"',
            json_schema_extra={"pattern": IF_MATCH},
        ),
    ] = None,
) -> ConversationOut:
    asked = body.model_dump(exclude_unset=True)
    expected = _expected_versions(if_match, asked.pop("version", None))
    if not asked:
        raise ApiError(422, "invalid_request", "nothing to change: send status and/or assignee_id")
    if asked.get("status", ...) is None:
        raise ApiError(422, "invalid_request", "status: may not be null")
    account = caller.account_id
    async with context.outbox.write() as unit:
        connection = unit.connection
        current = (
            await connection.execute(
                select(
                    col(Conversation.version), *(col(getattr(Conversation, f)) for f in CHANGEABLE)
                )
                .where(
                    col(Conversation.id) == conversation_id, col(Conversation.account_id) == account
                )
                .with_for_update()
            )
        ).first()
        if current is None:
            raise not_found("conversation", conversation_id)
        if stale := [version for version in expected if version != current.version]:
            raise ApiError(
                409,
                "version_conflict",
                f"conversation {conversation_id} is at version {current.version}, "
                f"not {stale[0]}: reload it and decide again",
                headers={"ETag": _etag(current.version)},
            )
        if asked.get("assignee_id") is not None:
            await ensure_agent(connection, account, asked["assignee_id"])
        values = {
            field: getattr(asked[field], "value", asked[field])
            for field in CHANGEABLE
            if field in asked and asked[field] != getattr(current, field)
        }
        changed: tuple[ConversationField, ...] = tuple(f for f in CHANGEABLE if f in values)
        if changed:
            await connection.execute(
                update(Conversation)
                .where(col(Conversation.id) == conversation_id)
                .values(**values, version=col(Conversation.version) + 1)
            )
        conversation = await find_conversation(connection, account, conversation_id, caller.user_id)
        if changed:
            change = ConversationChange(
                conversation=conversation_data(conversation), changed=changed
            )
            await unit.emit(
                account,
                lambda offset, ts: ConversationUpdated(
                    offset=offset,
                    account_id=account,
                    conversation_id=conversation_id,
                    ts=ts,
                    data=change,
                ),
            )
    response.headers["ETag"] = _etag(conversation.version)
    return conversation


async def _ensure(
    connection: AsyncConnection,
    table: Any,
    what: Literal["inbox", "contact"],
    ident: int,
    account: int,
) -> None:
    found = (
        await connection.execute(
            select(table.id).where(table.id == ident, table.account_id == account)
        )
    ).first()
    if found is None:
        raise not_found(what, ident)


def _etag(version: int) -> str:
    return f'"{version}"'


def _expected_versions(if_match: str | None, field: int | None) -> list[int]:
    """The versions the client says it saw: If-Match's and the body's, each a precondition
    (two that disagree cannot both hold, so such a PATCH is a version_conflict)."""
    expected = [] if field is None else [field]
    if if_match is None:
        return expected
    # ASCII digits only: str.isdigit() also took "²", which int() refuses (a 500).
    matched = re.match(IF_MATCH, if_match)
    if matched is None:
        raise ApiError(422, "invalid_request", 'If-Match: expected a version such as "3"')
    return [int(matched[1]), *expected]


def _activity_cursor(cursor: str) -> tuple[datetime, int]:
    moment, ident = decode_cursor(cursor, 2)
    return cursor_moment(moment), cursor_id(ident)
