"""The presence HTTP API: an account's presence and typers, health, readiness, metrics.

    GET /v1/presence                                  {account_id, agents, typing}
    GET /v1/presence/conversations/{id}/typing        {conversation_id, typing}
    GET /healthz   GET /readyz   GET /metrics

The account always comes from the verified Bearer token, never from the request, so one
tenant cannot read another's presence. Errors are `{"code", "message"}` like the API's.
/metrics follows `livedesk.shared.metrics_access`; there are no /docs pages (the API's are
the documentation), and /openapi.json only with `api.docs`. This module only reads the
state; it never changes it.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency annotations of the
# routes defined inside `create_router` at definition time, from locals it cannot see later.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, SecretStr

from livedesk.presence.keys import Keys
from livedesk.presence.revocation_listener import RevocationListener
from livedesk.presence.state import PresenceState
from livedesk.shared.errors import LivedeskError
from livedesk.shared.events import AgentStatus
from livedesk.shared.metrics_access import MetricsAccess, metrics_access
from livedesk.shared.tokens import Claims, TokenError
from livedesk.shared.verifying_key import verify_fetching
from livedesk.shared.web_headers import SecurityHeaders

Readiness = Callable[[], tuple[bool, dict[str, Any]]]


class ApiError(LivedeskError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class PresenceView(BaseModel):
    account_id: int
    agents: dict[int, AgentStatus]  # absent = offline
    typing: dict[int, list[int]]  # conversation -> user ids


class ConversationTyping(BaseModel):
    conversation_id: int
    typing: list[int]


_bearer = HTTPBearer(auto_error=False)


def create_router(state: PresenceState, keys: Keys, revocations: RevocationListener) -> APIRouter:
    """The /v1/presence routes, for this service's app or a standalone app to include."""
    router = APIRouter(prefix="/v1/presence", tags=["presence"])

    async def claims(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Claims:
        if keys.verifier is None:
            raise ApiError(503, "not_ready", "the token key is not loaded yet")
        if credentials is None:
            raise ApiError(401, "not_authenticated", "an Authorization: Bearer token is required")
        try:
            caller = await verify_fetching(keys.verifier, credentials.credentials)
        except TokenError as error:
            raise ApiError(401, error.code, error.message) from None
        if revocations.refuses(caller):
            raise ApiError(401, "token_revoked", "this session has ended; sign in again")
        return caller

    Caller = Annotated[Claims, Depends(claims)]

    @router.get("")
    def presence(caller: Caller) -> PresenceView:
        account = caller.account_id
        return PresenceView(
            account_id=account, agents=state.agents_of(account), typing=state.typing_of(account)
        )

    @router.get("/conversations/{conversation_id}/typing")
    def conversation_typing(
        caller: Caller, conversation_id: Annotated[int, Path(ge=1)]
    ) -> ConversationTyping:
        return ConversationTyping(
            conversation_id=conversation_id,
            typing=state.typers(caller.account_id, conversation_id),
        )

    return router


def create_app(
    state: PresenceState,
    keys: Keys,
    revocations: RevocationListener,
    registry: CollectorRegistry,
    readiness: Readiness,
    *,
    metrics_token: SecretStr | None = None,
    docs: bool = True,
) -> FastAPI:
    app = FastAPI(
        title="Livedesk presence",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.include_router(create_router(state, keys, revocations))
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(
            {"code": error.code, "message": error.message},
            status_code=error.status,
            headers=headers,
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        # Ready = consuming, its state built (a first warm-up over) and able to verify tokens.
        # A standby is ready too: its state is the active one's, and it answers reads alike;
        # `active` tells which one holds the queue and publishes.
        ready, detail = readiness()
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", **detail},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics")
    def metrics(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        client = request.client.host if request.client else None
        access = metrics_access(authorization, client, metrics_token)
        if access is not MetricsAccess.ALLOWED:
            raise ApiError(access.status, access.code, access.message)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
