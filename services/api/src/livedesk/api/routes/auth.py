"""Log in (`POST /v1/auth/token`) and publish the token keys (`/.well-known/jwks.json`).

A login is throttled before its password is hashed (`login_throttle`), and hashes wait for
a bounded pool (`passwords`). An e-mail may belong to users of several accounts: the login
names the account, or gets the e-mail's first user (the lowest id). Either way exactly one
hash is verified, against that user's or a decoy, so neither the answer nor its time says
whether, or in how many accounts, the e-mail exists (docs/security.md). A login starts a
session (routes.sessions: the refresh cookie); a disabled user gets the same 401 as a wrong
password, and only once the password was checked.
Not here: verifying tokens on each request (see deps.authenticate).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Context
from livedesk.api.errors import ApiError, documented
from livedesk.api.models import User
from livedesk.api.passwords import Busy
from livedesk.api.routes.sessions import signed_in
from livedesk.api.schemas import TokenRequest, TokenResponse
from livedesk.shared.tokens import jwks
from livedesk.shared.verifying_key import JWKS_PATH

router = APIRouter()

# Counted as one client when the server is not told the peer (an in-process test transport).
UNKNOWN_ADDRESS = "unknown"


@router.post("/v1/auth/token", tags=["auth"], responses=documented(401, 413, 422, 429, 503))
async def issue_token(
    body: TokenRequest, request: Request, response: Response, context: Context
) -> TokenResponse:
    address = request.client.host if request.client else UNKNOWN_ADDRESS
    # Before the throttle's reads and the user's: in a flood, a refusal must stay cheap.
    context.passwords.refuse_if_full()
    throttle = context.login_throttle
    await throttle.check(body.email, address)
    query = select(col(User.id), col(User.account_id), col(User.password_hash)).where(
        col(User.email) == body.email
    )
    if body.account_id is not None:
        query = query.where(col(User.account_id) == body.account_id)
    async with context.engine.connect() as connection:
        row = (await connection.execute(query.order_by(col(User.id)).limit(1))).first()
    # Verified even when the e-mail is unknown (against a decoy), so timing tells nothing.
    if not await context.passwords.verify(row[2] if row else None, body.password) or not row:
        await throttle.failed(body.email, address)
        raise _refused()
    user_id, account_id, stored_hash = row
    assert user_id is not None, "a stored user has its id"
    if context.passwords.needs_rehash(stored_hash):
        # The cost settings changed since this hash was made: the password is at hand only
        # now. A full pool skips it; the next login rehashes.
        with contextlib.suppress(Busy):
            new_hash = await context.passwords.hash(body.password)
            await context.store.replace_password_hash(account_id, user_id, new_hash)
    lifetime = timedelta(seconds=context.settings.tokens.refresh_ttl_s)
    started = await context.store.start_session(user_id, lifetime)
    if started is None:  # disabled
        raise _refused()
    return signed_in(context, started, request, response)


def _refused() -> ApiError:
    return ApiError(401, "invalid_credentials", "wrong e-mail or password")


@router.get(JWKS_PATH, tags=["auth"])
async def key_set(context: Context) -> dict[str, Any]:
    """Every key that verifies, so that tokens signed before a rotation still do."""
    return jwks(context.keys.public_keys())
