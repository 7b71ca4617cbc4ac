"""Log in (`POST /v1/auth/token`) and publish the token key (`/.well-known/jwks.json`).

A login starts a session (routes.sessions: the refresh cookie). A disabled user gets the
same 401 as a wrong password, and only once the password was checked: the answer tells a
guesser nothing about the account. Not here: verifying tokens on each request
(see deps.authenticate).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Context
from livedesk.api.errors import ApiError, documented
from livedesk.api.models import User
from livedesk.api.routes.sessions import signed_in
from livedesk.api.schemas import TokenRequest, TokenResponse
from livedesk.shared.tokens import jwks
from livedesk.shared.verifying_key import JWKS_PATH

router = APIRouter()


@router.post("/v1/auth/token", tags=["auth"], responses=documented(401, 413, 422))
async def issue_token(
    body: TokenRequest, request: Request, response: Response, context: Context
) -> TokenResponse:
    async with context.engine.connect() as connection:
        row = (
            await connection.execute(
                select(col(User.id), col(User.password_hash)).where(col(User.email) == body.email)
            )
        ).first()
    # Verified even when the e-mail is unknown (against a decoy), so timing tells nothing.
    if not await context.passwords.verify(row[1] if row else None, body.password) or not row:
        raise _refused()
    assert row[0] is not None
    lifetime = timedelta(seconds=context.settings.tokens.refresh_ttl_s)
    started = await context.store.start_session(row[0], lifetime)
    if started is None:  # disabled
        raise _refused()
    return signed_in(context, started, request, response)


def _refused() -> ApiError:
    return ApiError(401, "invalid_credentials", "wrong e-mail or password")


@router.get(JWKS_PATH, tags=["auth"])
async def key_set(context: Context) -> dict[str, Any]:
    return jwks(context.signer.public_key)
