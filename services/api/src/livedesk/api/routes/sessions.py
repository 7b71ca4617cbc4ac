"""Sessions: rotate a refresh token (`POST /v1/auth/refresh`), end one (`POST /v1/auth/logout`),
and the refresh cookie that login, refresh and logout set.

The refresh token travels only in a cookie: HttpOnly (no script reads it, so an injected
script cannot carry it away), SameSite=Strict (no other site's page sends it, so refresh
and logout need no CSRF token), scoped to /v1/auth (no other request carries it), and Secure
when the request came over TLS (`request.url.scheme`, which uvicorn sets from
X-Forwarded-Proto for the proxies in `--forwarded-allow-ips`). Clients other than browsers
keep and send the cookie as any HTTP client does. It is never in a JSON body.

Not here: login (routes.auth), ending other users' sessions (routes.access).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Cookie, Request, Response

from livedesk.api.deps import ApiContext, Context
from livedesk.api.errors import ApiError, documented
from livedesk.api.schemas import TokenResponse
from livedesk.api.store.sessions import Started

REFRESH_COOKIE: Final = "livedesk_refresh"
COOKIE_PATH: Final = "/v1/auth"

router = APIRouter(prefix=COOKIE_PATH, tags=["auth"])

RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE, max_length=256)]


def signed_in(
    context: ApiContext, started: Started, request: Request, response: Response
) -> TokenResponse:
    """The access token of a started or rotated session, its refresh token in the cookie."""
    response.set_cookie(
        REFRESH_COOKIE,
        started.refresh_token,
        max_age=context.settings.tokens.refresh_ttl_s,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    token = context.signer.issue(
        user_id=started.user_id,
        account_id=started.account_id,
        role=started.role,
        session_id=started.session_id,
    )
    return TokenResponse(access_token=token, expires_in=context.signer.ttl_s)


def _forget_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        REFRESH_COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


@router.post("/refresh", responses=documented(401, 503))
async def refresh(
    request: Request, response: Response, context: Context, token: RefreshCookie = None
) -> TokenResponse:
    """A new access token, with the user's role as it is now, and a new refresh cookie.

    401 `invalid_refresh` when the cookie is missing, unknown, expired, of a revoked session
    or a disabled user, or was used already (which revokes its whole session).
    """
    rotated = None if token is None else await context.store.rotate_refresh_token(token)
    if isinstance(rotated, Started):
        return signed_in(context, rotated, request, response)
    await context.revoker.announce(rotated, every_session=False)
    raise ApiError(
        401,
        "invalid_refresh",
        "this session has ended; log in again",
        headers={"set-cookie": _expired_cookie(request)},
    )


@router.post("/logout", status_code=204, responses=documented(503))
async def logout(
    request: Request, response: Response, context: Context, token: RefreshCookie = None
) -> None:
    """End the session of the refresh cookie, and clear it. Idempotent: without a cookie,
    or with one of an ended session, it answers the same."""
    if token is not None:
        await context.revoker.announce(await context.store.end_session(token), every_session=False)
    _forget_cookie(request, response)


def _expired_cookie(request: Request) -> str:
    response = Response()
    _forget_cookie(request, response)
    return response.headers["set-cookie"]
