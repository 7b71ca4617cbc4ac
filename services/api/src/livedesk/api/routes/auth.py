"""Log in (`POST /v1/auth/token`) and publish the token keys (`/.well-known/jwks.json`).

Not here: verifying tokens on each request (see deps.authenticate).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Context
from livedesk.api.errors import ApiError, documented
from livedesk.api.models import User
from livedesk.api.schemas import TokenRequest, TokenResponse
from livedesk.shared.tokens import Role, jwks
from livedesk.shared.verifying_key import JWKS_PATH

router = APIRouter()


@router.post("/v1/auth/token", tags=["auth"], responses=documented(401, 413, 422))
async def issue_token(body: TokenRequest, context: Context) -> TokenResponse:
    async with context.engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    col(User.id), col(User.account_id), col(User.role), col(User.password_hash)
                ).where(col(User.email) == body.email)
            )
        ).first()
    # Verified even when the e-mail is unknown (against a decoy), so timing tells nothing.
    if not await context.passwords.verify(row[3] if row else None, body.password) or not row:
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password")
    token = context.signer.issue(user_id=row[0] or 0, account_id=row[1], role=Role(row[2]))
    return TokenResponse(access_token=token, expires_in=context.signer.ttl_s)


@router.get(JWKS_PATH, tags=["auth"])
async def key_set(context: Context) -> dict[str, Any]:
    """Every key that verifies, so that tokens signed before a rotation still do."""
    return jwks(context.keys.public_keys())
