"""The writes of the account's directory: the account itself with its first admin, agents,
inboxes and contacts (made, and edited). None emits an event: none is part of a
conversation's stream.

Each takes the write's `Unit` (its transaction and clock). Not here: the e-mail rule and
password hashing (`accounts`, the routes' schemas), and a duplicate address, which the
database refuses at the insert or the commit (`base.Store` turns that into
`AlreadyRegistered`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import col

from livedesk.api.models import Account, Contact, Inbox, User
from livedesk.api.queries import AGENT_COLUMNS
from livedesk.api.schemas import AgentOut, ContactCreate, ContactOut, InboxOut
from livedesk.api.store.errors import NotFound
from livedesk.api.store.outbox import Unit, open_account_log
from livedesk.shared.events import AgentStatus
from livedesk.shared.tokens import Role


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    account_id: int
    user_id: int


async def create_account(
    unit: Unit, *, name: str, email: str, password_hash: str, admin_name: str
) -> CreatedAccount:
    """The account, its event-log rows (so it can be written to at once) and its admin."""
    now = unit.clock()
    account_id = (
        await unit.connection.execute(
            insert(Account).values(name=name, created_at=now).returning(col(Account.id))
        )
    ).scalar_one()
    assert account_id is not None
    await open_account_log(unit.connection, account_id)
    user_id = (
        await unit.connection.execute(
            insert(User)
            .values(
                account_id=account_id,
                email=email,
                name=admin_name,
                password_hash=password_hash,
                role=Role.ADMIN.value,
                availability=AgentStatus.ONLINE.value,
                created_at=now,
            )
            .returning(col(User.id))
        )
    ).scalar_one()
    assert user_id is not None
    return CreatedAccount(account_id, user_id)


async def create_agent(
    unit: Unit, account_id: int, *, email: str, name: str, password_hash: str, role: Role
) -> AgentOut:
    row = (
        await unit.connection.execute(
            insert(User)
            .values(
                account_id=account_id,
                email=email,
                name=name,
                password_hash=password_hash,
                role=role.value,
                availability=AgentStatus.ONLINE.value,
                created_at=unit.clock(),
            )
            .returning(*AGENT_COLUMNS)
        )
    ).one()
    return AgentOut.model_validate(row._mapping)


async def patch_agent(
    unit: Unit, account_id: int, agent_id: int, changes: Mapping[str, Any]
) -> AgentOut:
    """Set `changes` (column to value; none: only read the agent)."""
    mine = (col(User.id) == agent_id, col(User.account_id) == account_id)
    if changes:
        statement: Any = update(User).where(*mine).values(**changes).returning(*AGENT_COLUMNS)
    else:
        statement = select(*AGENT_COLUMNS).where(*mine)
    row = (await unit.connection.execute(statement)).first()
    if row is None:
        raise NotFound("agent", agent_id)
    return AgentOut.model_validate(row._mapping)


async def replace_password_hash(unit: Unit, account_id: int, user_id: int, new_hash: str) -> None:
    """The same password's hash, made again with today's cost settings."""
    await unit.connection.execute(
        update(User)
        .where(col(User.id) == user_id, col(User.account_id) == account_id)
        .values(password_hash=new_hash)
    )


async def create_inbox(unit: Unit, account_id: int, name: str) -> InboxOut:
    values = {"account_id": account_id, "name": name}
    return InboxOut.model_validate(await _insert(unit, Inbox, values))


async def create_contact(unit: Unit, account_id: int, body: ContactCreate) -> ContactOut:
    values = {"account_id": account_id, **body.model_dump()}
    return ContactOut.model_validate(await _insert(unit, Contact, values))


async def patch_contact(
    unit: Unit, account_id: int, contact_id: int, changes: Mapping[str, Any]
) -> ContactOut:
    """Set `changes` (column to value) on the account's contact; `NotFound` if none."""
    row = (
        await unit.connection.execute(
            update(Contact)
            .where(col(Contact.id) == contact_id, col(Contact.account_id) == account_id)
            .values(**changes)
            .returning(Contact)
        )
    ).first()
    if row is None:
        raise NotFound("contact", contact_id)
    return ContactOut.model_validate(row._mapping)


async def _insert(unit: Unit, table: Any, values: dict[str, Any]) -> dict[str, Any]:
    statement = insert(table).values(**values, created_at=unit.clock()).returning(table)
    return dict((await unit.connection.execute(statement)).one()._mapping)
