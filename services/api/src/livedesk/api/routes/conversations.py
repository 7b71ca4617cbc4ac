"""Conversations: open one, list them (filters, cursor pagination), read one, change status
or assignee with optimistic concurrency.

PATCH takes the version the client saw (If-Match, the `version` field, or both: each must
hold) and answers 409 `version_conflict` when it moved, so two agents cannot both take one
conversation: the second sees it taken. Answers carry the version as an ETag. Not here: the
writes and their events (`store.conversations`).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import func, select
from sqlmodel import col

from livedesk.api.conversation_view import (
    conversation_query,
    conversations_out,
    find_conversation,
)
from livedesk.api.deps import Caller, Context
from livedesk.api.errors import ApiError, documented, not_found
from livedesk.api.fields import AssigneeFilter, Cursor, Id
from livedesk.api.models import Conversation
from livedesk.api.openapi import next_page
from livedesk.api.queries import (
    NEWEST_ACTIVITY_FIRST,
    account_offset,
    activity_cursor,
    after_activity_cursor,
)
from livedesk.api.schemas import (
    AssigneeCounts,
    ConversationCounts,
    ConversationCreate,
    ConversationOut,
    ConversationPatch,
    ConversationRead,
    Page,
    StatusCounts,
)
from livedesk.api.store.errors import VersionConflict
from livedesk.shared.events import ConversationStatus

router = APIRouter(
    prefix="/v1/conversations", tags=["conversations"], responses=documented(401, 422)
)

# One conversation's path: digits only, so that "/counts" is never read as an id (PATCH
# /counts answers 405, not a 422 about the id; an id that is not a number is not found).
CONVERSATION = "/{conversation_id:int}"

# A version as If-Match carries it: 3, "3" or W/"3" (the ETag this API sends is "3").
# One pattern for the check and for the OpenAPI document.
IF_MATCH = r'^\s*(?:W/)?"?0*([1-9][0-9]{0,17})"?\s*$'


@router.post("", status_code=201, responses=documented(404, 413))
async def create_conversation(
    body: ConversationCreate, caller: Caller, context: Context, response: Response
) -> ConversationOut:
    conversation = await context.store.open_conversation(caller.account_id, body)
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
        query = query.where(after_activity_cursor(cursor))
    query = query.order_by(*NEWEST_ACTIVITY_FIRST).limit(limit + 1)
    async with context.store.snapshot() as connection:
        rows = (await connection.execute(query)).all()
        items = await conversations_out(connection, rows[:limit])
        offset = await account_offset(connection, caller.account_id)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = activity_cursor(items[-1].last_activity_at, items[-1].id)
    return Page(items=items, next_cursor=next_cursor, offset=offset)


@router.get("/counts")
async def count_conversations(caller: Caller, context: Context) -> ConversationCounts:
    """How many conversations each filter of the list holds: assigned to the caller,
    unassigned and all, by status."""
    assignee = col(Conversation.assignee_id)
    query = (
        select(
            col(Conversation.status),
            func.count().label("all"),
            func.count().filter(assignee.is_(None)).label("unassigned"),
            func.count().filter(assignee == caller.user_id).label("mine"),
        )
        .where(col(Conversation.account_id) == caller.account_id)
        .group_by(col(Conversation.status))
    )
    async with context.store.snapshot() as connection:
        rows = (await connection.execute(query)).all()
        offset = await account_offset(connection, caller.account_id)
    by_status = {row.status: row for row in rows}

    def counts(column: str) -> StatusCounts:
        return StatusCounts.model_validate(
            {
                status.value: getattr(by_status[status], column) if status in by_status else 0
                for status in ConversationStatus
            }
        )

    return ConversationCounts(
        offset=offset,
        counts=AssigneeCounts(
            mine=counts("mine"), unassigned=counts("unassigned"), all=counts("all")
        ),
    )


@router.get(CONVERSATION, responses=documented(404))
async def get_conversation(
    conversation_id: Annotated[Id, Path()], caller: Caller, context: Context, response: Response
) -> ConversationRead:
    async with context.store.snapshot() as connection:
        conversation = await find_conversation(
            connection, caller.account_id, conversation_id, caller.user_id
        )
        offset = await account_offset(connection, caller.account_id)
    if conversation is None:
        raise not_found("conversation", conversation_id)
    response.headers["ETag"] = _etag(conversation.version)
    return ConversationRead(**conversation.model_dump(), offset=offset)


@router.patch(CONVERSATION, responses=documented(404, 409, 413))
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
    try:
        conversation = await context.store.change_conversation(
            caller.account_id, caller.user_id, conversation_id, asked, expected
        )
    except VersionConflict as conflict:
        raise ApiError(
            409,
            "version_conflict",
            f"conversation {conversation_id} is at version {conflict.current}, "
            f"not {conflict.expected}: reload it and decide again",
            headers={"ETag": _etag(conflict.current)},
        ) from None
    response.headers["ETag"] = _etag(conversation.version)
    return conversation


def _etag(version: int) -> str:
    return f'"{version}"'


def _expected_versions(if_match: str | None, field: int | None) -> list[int]:
    """The versions the client says it saw: If-Match's and the body's, each a precondition
    (two that disagree cannot both hold, so such a PATCH is a version_conflict)."""
    expected = [] if field is None else [field]
    if if_match is None:
        return expected
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses (a 500).
    matched = re.match(IF_MATCH, if_match)
    if matched is None:
        raise ApiError(422, "invalid_request", 'If-Match: expected a version such as "3"')
    return [int(matched[1]), *expected]
