"""The writes of sessions: a login's refresh-token family, its rotations, its revocation.

A refresh token is 32 random bytes; only its SHA-256 is stored (a high-entropy secret needs
no salt or slow hash). Each is used once: a rotation marks it used and stores its successor
in the same transaction. A token presented again after its use was copied by someone: its
whole session is revoked, which ends the thief's copy and the owner's alike.

Each takes the write's `Unit` (its transaction and clock). Not here: cookies and tokens
(routes.sessions), telling the gateways (`revocation`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlmodel import col

from livedesk.api.models import RefreshToken, Session, User
from livedesk.api.store.outbox import Unit
from livedesk.shared.tokens import Role


@dataclass(frozen=True, slots=True)
class Started:
    """A session and its refresh token, for the user as the database has them now."""

    session_id: int
    user_id: int
    account_id: int
    role: Role
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Revoked:
    account_id: int
    user_id: int
    session_ids: tuple[int, ...]
    at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(unit: Unit, user_id: int, lifetime: timedelta) -> Started | None:
    """A new session of an enabled user (None: no such user, or disabled)."""
    user = (
        await unit.connection.execute(
            select(col(User.account_id), col(User.role)).where(
                col(User.id) == user_id, col(User.disabled).is_(False)
            )
        )
    ).first()
    if user is None:
        return None
    now = unit.clock()
    session_id = (
        await unit.connection.execute(
            insert(Session)
            .values(account_id=user[0], user_id=user_id, created_at=now, expires_at=now + lifetime)
            .returning(col(Session.id))
        )
    ).scalar_one()
    assert session_id is not None
    return Started(session_id, user_id, user[0], Role(user[1]), await _new_token(unit, session_id))


async def rotate(unit: Unit, token: str) -> Started | Revoked | None:
    """Use `token` once: its successor, with the user's role as it is now; `Revoked` when
    it was used already (its session is revoked here); None when it names nothing live."""
    hashed = token_hash(token)
    now = unit.clock()
    session_id = (
        await unit.connection.execute(
            update(RefreshToken)
            .where(col(RefreshToken.token_hash) == hashed, col(RefreshToken.used_at).is_(None))
            .values(used_at=now)
            .returning(col(RefreshToken.session_id))
        )
    ).scalar_one_or_none()
    if session_id is None:
        reused = (
            await unit.connection.execute(
                select(col(RefreshToken.session_id)).where(col(RefreshToken.token_hash) == hashed)
            )
        ).scalar_one_or_none()
        return None if reused is None else await revoke_session(unit, reused)
    row = (
        await unit.connection.execute(
            select(col(User.id), col(User.account_id), col(User.role))
            .join(Session, col(Session.user_id) == col(User.id))
            .where(
                col(Session.id) == session_id,
                col(Session.revoked_at).is_(None),
                col(Session.expires_at) > now,
                col(User.disabled).is_(False),
            )
        )
    ).first()
    if row is None:
        return None
    user_id, account_id, role = row
    assert user_id is not None
    return Started(session_id, user_id, account_id, Role(role), await _new_token(unit, session_id))


async def session_of(unit: Unit, token: str) -> int | None:
    """The session a refresh token belongs to, used or not, without using it."""
    statement = select(col(RefreshToken.session_id)).where(
        col(RefreshToken.token_hash) == token_hash(token)
    )
    return (await unit.connection.execute(statement)).scalar_one_or_none()


async def revoke_session(unit: Unit, session_id: int) -> Revoked | None:
    """Revoke one session (None: no such session, or revoked already)."""
    row = (
        await unit.connection.execute(
            update(Session)
            .where(col(Session.id) == session_id, col(Session.revoked_at).is_(None))
            .values(revoked_at=unit.clock())
            .returning(col(Session.account_id), col(Session.user_id))
        )
    ).first()
    if row is None:
        return None
    return Revoked(row[0], row[1], (session_id,), unit.clock())


async def revoke_user(
    unit: Unit, account_id: int, user_id: int, keep: Collection[int] = ()
) -> Revoked:
    """Revoke every open session of the user but those in `keep`."""
    now = unit.clock()
    revoked = await unit.connection.execute(
        update(Session)
        .where(
            col(Session.account_id) == account_id,
            col(Session.user_id) == user_id,
            col(Session.revoked_at).is_(None),
            col(Session.id).not_in(keep),
        )
        .values(revoked_at=now)
        .returning(col(Session.id))
    )
    return Revoked(account_id, user_id, tuple(i for i in revoked.scalars() if i is not None), now)


async def _new_token(unit: Unit, session_id: int) -> str:
    token = secrets.token_urlsafe(32)
    await unit.connection.execute(
        insert(RefreshToken).values(token_hash=token_hash(token), session_id=session_id)
    )
    return token
