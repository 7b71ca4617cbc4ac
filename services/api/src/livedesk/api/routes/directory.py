"""Inboxes and contacts: create, list (cursor pagination by id), read; edit a contact and
list its conversations.

Any agent may add or edit a contact (a customer writes in); only admins add inboxes
(channels).
Not here: the writes (the store's).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.conversation_view import conversation_query, conversations_page
from livedesk.api.deps import Admin, Caller, Context
from livedesk.api.errors import ApiError, documented, not_found
from livedesk.api.fields import Cursor, Id
from livedesk.api.models import Contact, Conversation, Inbox
from livedesk.api.openapi import next_page
from livedesk.api.queries import (
    account_offset,
    decode_id_cursor,
    encode_cursor,
)
from livedesk.api.schemas import (
    ContactCreate,
    ContactOut,
    ContactPatch,
    ConversationOut,
    InboxCreate,
    InboxOut,
    Page,
)

router = APIRouter(prefix="/v1", tags=["directory"], responses=documented(401, 422))

Out = TypeVar("Out", bound=BaseModel)
Limit = Annotated[int, Query(ge=1, le=500)]
# Fields a contact always has: PATCH may change them, not clear them.
NEVER_NULL = ("name", "custom_attributes")


@router.post("/inboxes", status_code=201, responses=documented(403, 413))
async def create_inbox(body: InboxCreate, caller: Admin, context: Context) -> InboxOut:
    return await context.store.create_inbox(caller.account_id, body.name)


@router.get("/inboxes", responses=next_page("/v1/inboxes"))
async def list_inboxes(
    caller: Caller, context: Context, cursor: Cursor | None = None, limit: Limit = 100
) -> Page[InboxOut]:
    return await _list(context, Inbox, InboxOut, caller.account_id, cursor, limit)


@router.get("/inboxes/{inbox_id}", responses=documented(404))
async def get_inbox(inbox_id: Annotated[Id, Path()], caller: Caller, context: Context) -> InboxOut:
    return InboxOut.model_validate(await _get(context, Inbox, "inbox", inbox_id, caller.account_id))


@router.post("/contacts", status_code=201, responses=documented(413))
async def create_contact(body: ContactCreate, caller: Caller, context: Context) -> ContactOut:
    return await context.store.create_contact(caller.account_id, body)


@router.get("/contacts", responses=next_page("/v1/contacts"))
async def list_contacts(
    caller: Caller, context: Context, cursor: Cursor | None = None, limit: Limit = 100
) -> Page[ContactOut]:
    return await _list(context, Contact, ContactOut, caller.account_id, cursor, limit)


@router.get("/contacts/{contact_id}", responses=documented(404))
async def get_contact(
    contact_id: Annotated[Id, Path()], caller: Caller, context: Context
) -> ContactOut:
    row = await _get(context, Contact, "contact", contact_id, caller.account_id)
    return ContactOut.model_validate(row)


@router.patch("/contacts/{contact_id}", responses=documented(404, 413))
async def patch_contact(
    contact_id: Annotated[Id, Path()], body: ContactPatch, caller: Caller, context: Context
) -> ContactOut:
    """Change the fields sent, leave the others; any agent may (they talk to the contact)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(422, "invalid_request", "nothing to change: send at least one field")
    if refused := [f for f in NEVER_NULL if f in changes and changes[f] is None]:
        raise ApiError(422, "invalid_request", f"{refused[0]}: may not be null")
    return await context.store.patch_contact(caller.account_id, contact_id, changes)


@router.get(
    "/contacts/{contact_id}/conversations",
    responses={
        **documented(404),
        **next_page("/v1/contacts/{contact_id}/conversations", "contact_id"),
    },
)
async def list_contact_conversations(
    contact_id: Annotated[Id, Path()],
    caller: Caller,
    context: Context,
    cursor: Cursor | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ConversationOut]:
    """The contact's conversations, newest activity first (as `GET /v1/conversations`)."""
    query = conversation_query(caller.user_id).where(
        col(Conversation.account_id) == caller.account_id,
        col(Conversation.contact_id) == contact_id,
    )
    async with context.store.snapshot() as connection:
        found = await connection.execute(
            select(col(Contact.id)).where(
                col(Contact.id) == contact_id, col(Contact.account_id) == caller.account_id
            )
        )
        if found.first() is None:
            raise not_found("contact", contact_id)
        return await conversations_page(connection, query, caller.account_id, cursor, limit)


async def _get(context: Context, table: Any, what: str, ident: int, account: int) -> Any:
    async with context.engine.connect() as connection:
        row = (
            await connection.execute(
                select(table).where(table.id == ident, table.account_id == account)
            )
        ).first()
    if row is None:
        raise not_found(what, ident)
    return row._mapping


async def _list(
    context: Context, table: Any, out: type[Out], account: int, cursor: str | None, limit: int
) -> Page[Out]:
    after = decode_id_cursor(cursor) if cursor else 0
    async with context.store.snapshot() as connection:
        rows = (
            await connection.execute(
                select(table)
                .where(table.account_id == account, table.id > after)
                .order_by(table.id)
                .limit(limit + 1)
            )
        ).all()
        offset = await account_offset(connection, account)
    items = [out.model_validate(row._mapping) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor, offset=offset)
