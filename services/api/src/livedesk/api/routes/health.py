"""Operations endpoints: /healthz (the process answers), /readyz (database and broker),
/metrics (Prometheus text). None reveals tenant data; /metrics is for the metrics token or
loopback (`livedesk.shared.metrics_access`), the probes are open.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from livedesk.api.deps import Context
from livedesk.api.errors import ApiError, documented
from livedesk.api.models import AccountOffset, EventRelay
from livedesk.api.schemas import Readiness
from livedesk.shared.metrics_access import MetricsAccess, metrics_access

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database or the broker is down"}},
)
async def readyz(context: Context) -> JSONResponse:
    try:
        async with context.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        database = "ok"
    except (DBAPIError, OSError) as error:
        database = f"down: {type(error).__name__}"
    broker = "ok" if context.relay.broker_ok else "down"
    ready = database == "ok" and broker == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "database": database, "broker": broker},
        200 if ready else 503,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"},
        **documented(401, 403),
    },
)
async def metrics(
    context: Context, request: Request, authorization: Annotated[str | None, Header()] = None
) -> Response:
    client = request.client.host if request.client else None
    access = metrics_access(authorization, client, context.settings.metrics_token)
    if access is not MetricsAccess.ALLOWED:
        challenge = {"WWW-Authenticate": "Bearer"} if access.status == 401 else None
        raise ApiError(access.status, access.code, access.message, challenge)

    async def backlog() -> int:
        async with context.engine.connect() as connection:
            behind = col(AccountOffset.last_offset) - col(EventRelay.published_offset)
            total = (
                await connection.execute(
                    select(func.coalesce(func.sum(behind), 0)).join(
                        EventRelay, col(EventRelay.account_id) == col(AccountOffset.account_id)
                    )
                )
            ).scalar_one()
        return int(total)

    return Response(await context.metrics.render(backlog), media_type=CONTENT_TYPE_LATEST)
