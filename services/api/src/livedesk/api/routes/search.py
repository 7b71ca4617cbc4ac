"""Search: the account's conversations whose contact (name, e-mail) or messages (notes
included) match a search box's text, newest activity first, a page at a time.

Each conversation comes once, with its newest matching message and a snippet of it (or,
matched by its contact alone, no message and the contact's name), found for the page's
conversations only. The order and cursor are
the conversation list's, so a conversation that moves while an agent pages moves as it
would in the list. Which rows match is each database's full-text search (`store.search`);
everything else here is the same on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Row, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.conversation_view import conversation_query, conversations_out
from livedesk.api.deps import Caller, Context
from livedesk.api.errors import documented
from livedesk.api.fields import Cursor, SearchText
from livedesk.api.models import Conversation
from livedesk.api.openapi import next_page
from livedesk.api.queries import (
    NEWEST_ACTIVITY_FIRST,
    account_offset,
    activity_cursor,
    after_activity_cursor,
)
from livedesk.api.schemas import ContactSummary, Page, SearchHit
from livedesk.api.search_terms import SearchTerms, search_terms
from livedesk.api.store.search import SearchIndex

router = APIRouter(prefix="/v1/search", tags=["search"], responses=documented(401, 422))


@router.get("", responses=next_page("/v1/search"))
async def search(
    caller: Caller,
    context: Context,
    q: Annotated[
        SearchText,
        Query(description="words to find; the last one may be the start of a word"),
    ],
    cursor: Cursor | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[SearchHit]:
    terms = search_terms(q)
    after = after_activity_cursor(cursor) if cursor else None  # refused before any query
    async with context.store.snapshot() as connection:
        offset = await account_offset(connection, caller.account_id)
        if not terms.words:  # nothing a full-text index can look up: "?!", "--"
            return Page(items=[], next_cursor=None, offset=offset)
        query = _matching_conversations(
            context.store.search, caller.account_id, caller.user_id, terms
        )
        if after is not None:
            query = query.where(after)
        rows = (await connection.execute(query.limit(limit + 1))).all()
        items = await _hits(
            connection, context.store.search, caller.account_id, terms, rows[:limit]
        )
    next_cursor = None
    if len(rows) > limit:
        last = items[-1].conversation
        next_cursor = activity_cursor(last.last_activity_at, last.id)
    return Page(items=items, next_cursor=next_cursor, offset=offset)


def _matching_conversations(
    index: SearchIndex, account_id: int, user_id: int, terms: SearchTerms
) -> Any:
    """The conversations a message or the contact of which matches, in the list's order.

    Each match is a set looked up by id (an IN, not a join): the database finds the matches
    once through its full-text index, then walks the account's conversations newest first
    until the page is full, as the list does.
    """
    messages = index.matching_messages(account_id, terms).subquery()
    contacts = index.matching_contacts(account_id, terms)
    return (
        conversation_query(user_id)
        .where(
            col(Conversation.account_id) == account_id,
            or_(
                col(Conversation.id).in_(select(messages.c.conversation_id)),
                col(Conversation.contact_id).in_(contacts),
            ),
        )
        .order_by(*NEWEST_ACTIVITY_FIRST)
    )


async def _hits(
    connection: AsyncConnection,
    index: SearchIndex,
    account_id: int,
    terms: SearchTerms,
    rows: Sequence[Row[Any]],
) -> list[SearchHit]:
    conversations = await conversations_out(connection, rows)
    messages = index.matching_messages(account_id, terms).subquery()
    newest = await connection.execute(
        select(messages.c.conversation_id, func.max(messages.c.id))
        .where(messages.c.conversation_id.in_([row.id for row in rows]))
        .group_by(messages.c.conversation_id)
    )
    matched: dict[int, int] = {row[0]: row[1] for row in newest}
    snippets = await index.snippets(connection, terms, matched.values()) if matched else {}
    return [
        SearchHit(
            conversation=conversation,
            message_id=matched.get(conversation.id),
            snippet=snippets.get(matched[conversation.id], "")
            if conversation.id in matched
            else _contact_line(conversation.contact),
        )
        for conversation in conversations
    ]


def _contact_line(contact: ContactSummary) -> str:
    return contact.name if contact.email is None else f"{contact.name} <{contact.email}>"
