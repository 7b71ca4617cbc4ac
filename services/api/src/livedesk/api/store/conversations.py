"""The writes of conversations: open one, change its status, assignee or snooze, wake the
snoozed ones whose time has come.

Every change bumps `version` and records who made it and what it changed. A change names
the versions the client saw, and is refused (`VersionConflict`, with the conversation as it
is and its last change) when the conversation moved on; the row is locked (FOR UPDATE) while
compared and changed, so two agents cannot both take one conversation. Statuses are target
states: snoozed comes with a time in the future, any other status clears it, and a change
that changes nothing emits nothing and keeps the version. Opening emits `new_conversation`;
a change emits `conversation_updated` naming the fields it changed and who changed them.

Each takes the write's `Unit`. Not here: reading If-Match and the body (the route), and
when to look for snoozes that ran out (`snooze`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.conversation_view import conversation_data, find_conversation
from livedesk.api.models import Contact, Conversation, Inbox, User
from livedesk.api.schemas import Actor, ContactSummary, ConversationCreate, ConversationOut
from livedesk.api.store.errors import InvalidChange, NotFound, VersionConflict
from livedesk.api.store.outbox import Unit
from livedesk.shared.events import (
    ConversationChange,
    ConversationData,
    ConversationField,
    ConversationStatus,
    ConversationUpdated,
    NewConversation,
)

CHANGEABLE: tuple[ConversationField, ...] = ("status", "assignee_id", "snoozed_until")
# What a wake-up changes: the status (to open) and the snooze (cleared).
WOKEN: tuple[ConversationField, ...] = ("status", "snoozed_until")


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
    wanted = _with_snooze(changes, unit.clock())
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
        raise await _conflict(unit, account_id, user_id, conversation_id, stale[0])
    if wanted.get("assignee_id") is not None:
        await _ensure(unit, User, "agent", wanted["assignee_id"], account_id)
    values = {
        field: getattr(wanted[field], "value", wanted[field])
        for field in CHANGEABLE
        if field in wanted and wanted[field] != getattr(current, field)
    }
    changed: tuple[ConversationField, ...] = tuple(f for f in CHANGEABLE if f in values)
    if changed:
        await connection.execute(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(
                **values,
                version=col(Conversation.version) + 1,
                updated_by_id=user_id,
                last_changed=list(changed),
            )
        )
    conversation = await find_conversation(connection, account_id, conversation_id, user_id)
    assert conversation is not None, "locked above, in this transaction"
    if changed:
        await _emit_change(unit, account_id, conversation_data(conversation), changed, by=user_id)
    return conversation


async def wake_due(unit: Unit, limit: int) -> int:
    """Reopen up to `limit` snoozed conversations whose time has come, each with its
    `conversation_updated` by the system (`by` null); how many it reopened.

    Rows another transaction holds are skipped (SKIP LOCKED; SQLite has one writer, and
    no locks to skip): two wake-ups never take the same conversation, and a PATCH that holds
    one is not waited for, it is taken next time if still due. Events are emitted in
    account order, the order in which every wake-up takes the accounts' offset counters,
    so that two of them never wait on each other's counters.
    """
    due = (
        (
            await unit.connection.execute(
                select(col(Conversation.id))
                .where(
                    col(Conversation.snoozed_until) <= unit.clock(),
                    col(Conversation.status) == ConversationStatus.SNOOZED.value,
                )
                .order_by(col(Conversation.snoozed_until))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    woken = []
    for conversation_id in due:
        row = (
            await unit.connection.execute(
                update(Conversation)
                .where(col(Conversation.id) == conversation_id)
                .values(
                    status=ConversationStatus.OPEN.value,
                    snoozed_until=None,
                    version=col(Conversation.version) + 1,
                    updated_by_id=None,
                    last_changed=list(WOKEN),
                )
                .returning(Conversation)
            )
        ).one()
        woken.append((row.account_id, _event_data(row)))
    for account_id, data in sorted(woken, key=lambda woke: (woke[0], woke[1].id)):
        await _emit_change(unit, account_id, data, WOKEN, by=None)
    return len(woken)


async def next_wake_up(connection: AsyncConnection) -> datetime | None:
    """When the next snoozed conversation is due (None: none is snoozed)."""
    due: datetime | None = (
        await connection.execute(select(func.min(col(Conversation.snoozed_until))))
    ).scalar_one()
    return due


def _with_snooze(changes: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """`changes` with the snooze they imply: a time with status snoozed, and only there
    (null included), in the future; any other status clears it. `InvalidChange` otherwise."""
    wanted = dict(changes)
    status = wanted.get("status")
    if status != ConversationStatus.SNOOZED:
        if "snoozed_until" in wanted:
            raise InvalidChange(
                "snoozed_until: only with status snoozed"
                + ("" if status is None else f", not {status}")
            )
        if status is not None:
            wanted["snoozed_until"] = None
        return wanted
    until = wanted.get("snoozed_until")
    if until is None:
        raise InvalidChange("snoozed_until: required with status snoozed")
    if until <= now:
        raise InvalidChange(f"snoozed_until: must be in the future (now is {now.isoformat()})")
    return wanted


async def _conflict(
    unit: Unit, account_id: int, user_id: int, conversation_id: int, expected: int
) -> VersionConflict:
    conversation = await find_conversation(unit.connection, account_id, conversation_id, user_id)
    assert conversation is not None, "locked by the caller, in this transaction"
    last = (
        await unit.connection.execute(
            select(col(Conversation.last_changed), col(User.id), col(User.name))
            .select_from(Conversation)
            .outerjoin(User, col(User.id) == col(Conversation.updated_by_id))
            .where(col(Conversation.id) == conversation_id)
        )
    ).one()
    changed_by = None if last.id is None else Actor(id=last.id, name=last.name)
    return VersionConflict(conversation, expected, changed_by, tuple(last.last_changed or ()))


def _event_data(row: Row[Any]) -> ConversationData:
    """A conversation row as its events carry it (no contact or newest message to read)."""
    fields = row._mapping
    return ConversationData.model_validate(
        {name: fields[name] for name in ConversationData.model_fields}
    )


async def _emit_change(
    unit: Unit,
    account_id: int,
    data: ConversationData,
    changed: tuple[ConversationField, ...],
    by: int | None,
) -> None:
    change = ConversationChange(conversation=data, changed=changed, by=by)
    await unit.emit(
        account_id,
        lambda offset, ts: ConversationUpdated(
            offset=offset,
            account_id=account_id,
            conversation_id=data.id,
            ts=ts,
            data=change,
        ),
    )


async def _ensure(
    unit: Unit, table: Any, what: Literal["inbox", "agent"], ident: int, account: int
) -> None:
    found = await unit.connection.execute(
        select(table.id).where(table.id == ident, table.account_id == account)
    )
    if found.first() is None:
        raise NotFound(what, ident)
