"""Whether a request's access token still gives access: signed, unexpired, session open.

The signature and expiry come from `CachingVerifier`. A token's session (its `sid`) may have
been revoked since it was signed (logout, disabled, reset): `SessionStates` asks the
database, by primary key, and trusts the answer for `session_check_s`, so an active client
costs one indexed read per session and interval, not one per request. The database is what
every API process and replica shares, so a revocation made by any of them is in force
everywhere within that interval; the process that revoked forgets its own answers at once.
Both message routes (FastAPI's and the fast one) check through `AccessCheck.verify`.

Not here: telling gateways (`revocation`), and tokens without a session (minted by tooling
holding the signing key), which only their expiry ends.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from livedesk.api.models import Session, User
from livedesk.api.token_cache import DEFAULT_MAX_TOKENS, CachingVerifier
from livedesk.shared.tokens import Claims, TokenError


class SessionStates:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        check_s: float,
        max_sessions: int = DEFAULT_MAX_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine, self._check_s, self._max, self._clock = engine, check_s, max_sessions, clock
        self._known: OrderedDict[int, tuple[bool, float]] = OrderedDict()  # open?, read at

    async def is_open(self, session_id: int, user_id: int) -> bool:
        known = self._known.get(session_id)
        now = self._clock()
        if known is not None and now - known[1] < self._check_s:
            return known[0]
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(col(Session.revoked_at))
                    .join(User, col(User.id) == col(Session.user_id))
                    .where(
                        col(Session.id) == session_id,
                        col(Session.user_id) == user_id,
                        col(User.disabled).is_(False),
                    )
                )
            ).first()
        is_open = row is not None and row[0] is None
        self._known[session_id] = (is_open, now)
        self._known.move_to_end(session_id)
        if len(self._known) > self._max:
            self._known.popitem(last=False)
        return is_open

    def revoked(self, session_ids: Iterable[int]) -> None:
        """This process revoked them: in force here at once."""
        for session_id in session_ids:
            self._known[session_id] = (False, self._clock())


class AccessCheck:
    def __init__(self, tokens: CachingVerifier, sessions: SessionStates) -> None:
        self._tokens, self.sessions = tokens, sessions

    async def verify(self, token: str) -> Claims:
        """The token's claims; `TokenError` if it is bad, expired, or its session ended."""
        claims = self._tokens.verify(token)
        if claims.session_id is not None and not await self.sessions.is_open(
            claims.session_id, claims.user_id
        ):
            raise TokenError("token_revoked", "this session has ended; log in again")
        return claims
