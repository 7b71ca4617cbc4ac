"""Create an account with its first admin (`livedesk bootstrap`, standalone's demo data).

The account's event-log rows (offset counter, relay cursor) are created in the same
transaction, so every account can be written to at once. Not here: adding agents later
(routes.agents).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from livedesk.api.emails import InvalidEmail, normalize_email
from livedesk.api.models import Account, User
from livedesk.api.outbox import open_account_log
from livedesk.api.passwords import Passwords
from livedesk.shared.errors import LivedeskError
from livedesk.shared.events import AgentStatus
from livedesk.shared.tokens import Role


class AccountError(LivedeskError):
    pass


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    account_id: int
    user_id: int


async def create_account(
    engine: AsyncEngine,
    passwords: Passwords,
    *,
    name: str,
    email: str,
    password: str,
    admin_name: str = "Admin",
) -> CreatedAccount:
    try:
        address = normalize_email(email)
    except InvalidEmail as error:
        raise AccountError(f"{email}: {error}") from None
    password_hash = await passwords.hash(password)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            account_id = (
                await connection.execute(
                    insert(Account).values(name=name, created_at=now).returning(col(Account.id))
                )
            ).scalar_one()
            assert account_id is not None
            await open_account_log(connection, account_id)
            user_id = (
                await connection.execute(
                    insert(User)
                    .values(
                        account_id=account_id,
                        email=address,
                        name=admin_name,
                        password_hash=password_hash,
                        role=Role.ADMIN.value,
                        availability=AgentStatus.ONLINE.value,
                        created_at=now,
                    )
                    .returning(col(User.id))
                )
            ).scalar_one()
    except IntegrityError:
        raise AccountError(f"{address} is already registered") from None
    assert user_id is not None
    return CreatedAccount(account_id, user_id)
