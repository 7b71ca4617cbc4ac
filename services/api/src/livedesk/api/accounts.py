"""Create an account with its first admin (`livedesk bootstrap`, standalone's demo data).

Checks the address and hashes the password, then writes through the store, which creates
the account's event-log rows in the same transaction, so every account can be written to
at once. Not here: adding agents later (routes.agents).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.emails import InvalidEmail, normalize_email
from livedesk.api.passwords import Passwords
from livedesk.api.store.choice import store_for
from livedesk.api.store.directory import CreatedAccount
from livedesk.api.store.errors import AlreadyRegistered
from livedesk.shared.errors import LivedeskError


class AccountError(LivedeskError):
    pass


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
    try:
        return await store_for(engine).create_account(
            name=name, email=address, password_hash=password_hash, admin_name=admin_name
        )
    except AlreadyRegistered as error:
        raise AccountError(str(error)) from None
