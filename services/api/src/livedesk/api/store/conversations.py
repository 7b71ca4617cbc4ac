"""The writes of conversations: open one, change its status or assignee.

Every change bumps `version`. A change names the versions the client saw, and is refused
(`VersionConflict`) when the conversation moved on; the row is locked (FOR UPDATE) while
compared and changed, so two agents cannot both take one conversation. Opening emits
`new_conversation`; a change emits `conversation_updated` naming the fields it changed; a
change that changes nothing emits nothing and keeps the version.

Each takes the write's `Unit`. Not here: reading If-Match and the body (the route).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlmodel import col

from livedesk.api.conversation_view import conversation_data, find_conversation
from livedesk.api.models import Contact, Conversation, Inbox, User
from livedesk.api.schemas import ContactSummary, ConversationCreate, ConversationOut
from livedesk.api.store.errors import NotFound, VersionConflict
from livedesk.api.store.outbox import Unit
from livedesk.shared.events import (
    ConversationChange,
    ConversationField,
    ConversationStatus,
    ConversationUpdated,
    NewConversation,
)

CHANGEABLE: tuple[ConversationField, ...] = ("status", "assignee_id")


async def open_conversation(
    unit: Unit, account_id: int, body: ConversationCreate
) -> ConversationOut:
    connection = unit.connection
    await _ensure(unit, Inbox, "inbox", body.inbox_id, account_id)
    contact = (
        await connection.execute(
            select(col(Contact.id), col(Contact.name), col(Contact.email)).where(
                col(Contact.id) == body.contact_id, col(Contact.account_id) == account_id
            )
        )
    ).first()
    if contact is None:
        raise NotFound("contact", body.contact_id)
    if body.assignee_id is not None:
        await _ensure(unit, User, "agent", body.assignee_id, account_id)
    now = unit.clock()
    row = (
        await connection.execute(
            insert(Conversation)
            .values(
                account_id=account_id,
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
    # New: nothing unread, no message yet.
    conversation = ConversationOut.model_validate(
        {
            **row._mapping,
            "contact": ContactSummary.model_validate(contact._mapping),
            "last_message": None,
        }
    )
    data = conversation_data(conversation)
    await unit.emit(
        account_id,
        lambda offset, ts: NewConversation(
            offset=offset, account_id=account_id, conversation_id=data.id, ts=ts, data=data
        ),
    )
    return conversation


async def change_conversation(
    unit: Unit,
    account_id: int,
    user_id: int,
    conversation_id: int,
    changes: Mapping[str, Any],
    expected_versions: Sequence[int],
) -> ConversationOut:
    """Apply `changes` if the conversation is at every version in `expected_versions`;
    the conversation as `user_id` sees it afterwards (their unread count)."""
    connection = unit.connection
    current = (
        await connection.execute(
            select(col(Conversation.version), *(col(getattr(Conversation, f)) for f in CHANGEABLE))
            .where(
                col(Conversation.id) == conversation_id,
                col(Conversation.account_id) == account_id,
            )
            .with_for_update()
        )
    ).first()
    if current is None:
        raise NotFound("conversation", conversation_id)
    if stale := [version for version in expected_versions if version != current.version]:
        raise VersionConflict(conversation_id, current.version, stale[0])
    if changes.get("assignee_id") is not None:
        await _ensure(unit, User, "agent", changes["assignee_id"], account_id)
    values = {
        field: getattr(changes[field], "value", changes[field])
        for field in CHANGEABLE
        if field in changes and changes[field] != getattr(current, field)
    }
    changed: tuple[ConversationField, ...] = tuple(f for f in CHANGEABLE if f in values)
    if changed:
        await connection.execute(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(**values, version=col(Conversation.version) + 1)
        )
    conversation = await find_conversation(connection, account_id, conversation_id, user_id)
    assert conversation is not None, "locked above, in this transaction"
    if changed:
        change = ConversationChange(conversation=conversation_data(conversation), changed=changed)
        await unit.emit(
            account_id,
            lambda offset, ts: ConversationUpdated(
                offset=offset,
                account_id=account_id,
                conversation_id=conversation_id,
                ts=ts,
                data=change,
            ),
        )
    return conversation


async def _ensure(
    unit: Unit, table: Any, what: Literal["inbox", "agent"], ident: int, account: int
) -> None:
    found = await unit.connection.execute(
        select(table.id).where(table.id == ident, table.account_id == account)
    )
    if found.first() is None:
        raise NotFound(what, ident)
