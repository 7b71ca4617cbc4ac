"""FastAPI dependencies: the service's collaborators, and who is calling.

`ApiContext` holds everything a route needs (store, engine, token signer, ...); it is built
once by `app.build_context` and hung on `app.state`. `Caller` is the verified token: the
only source of the account a request acts for. Not here: the routes themselves.

The dependencies are `async def` although they never await: FastAPI runs a plain `def`
dependency in a worker thread, a thread hop per dependency and request for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.access import AccessCheck
from livedesk.api.availability import AvailabilityAnnouncer
from livedesk.api.errors import ApiError, forbidden
from livedesk.api.login_throttle import LoginThrottle
from livedesk.api.metrics import Metrics
from livedesk.api.passwords import Passwords
from livedesk.api.relay import Relay
from livedesk.api.revocation import Revoker
from livedesk.api.store.base import Store
from livedesk.api.token_cache import CachingVerifier
from livedesk.shared.bus.base import Bus
from livedesk.shared.key_set import KeyRing
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import (
    Claims,
    FixedKey,
    Role,
    TokenError,
    TokenSigner,
    TokenVerifier,
)


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    # Every write goes through the store; reads use its snapshots, or the engine directly.
    store: Store
    engine: AsyncEngine
    bus: Bus
    relay: Relay
    announcer: AvailabilityAnnouncer
    keys: KeyRing | FixedKey  # published at the JWKS endpoint
    signer: TokenSigner
    verifier: TokenVerifier
    # The same verifier behind a cache of tokens it accepted,
    token_cache: CachingVerifier
    # and that cache with the session's state: what requests are checked with.
    access: AccessCheck
    revoker: Revoker
    passwords: Passwords
    login_throttle: LoginThrottle
    metrics: Metrics


async def get_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


_bearer = HTTPBearer(auto_error=False, description="an access token from POST /v1/auth/token")


async def authenticate(
    context: Annotated[ApiContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "not_authenticated",
            "send Authorization: Bearer <access token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return await context.access.verify(credentials.credentials)
    except TokenError as error:
        raise ApiError(
            401, error.code, error.message, headers={"WWW-Authenticate": "Bearer"}
        ) from None


async def require_admin(caller: Annotated[Claims, Depends(authenticate)]) -> Claims:
    if caller.role is not Role.ADMIN:
        raise forbidden("this needs the admin role")
    return caller


Context = Annotated[ApiContext, Depends(get_context)]
Caller = Annotated[Claims, Depends(authenticate)]
Admin = Annotated[Claims, Depends(require_admin)]
