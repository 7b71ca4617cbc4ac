"""The outermost layer of the API's ASGI app: every request gets an id, and every error
that escaped the layers inside gets an answer here, so that none reaches the server.

The id is the request's own `X-Request-ID` when it is sane (1 to 128 characters of
letters, digits and `._:+/=-`), else a new one; every response carries it back. An error
nobody inside handled is logged once, with the id, method and path, and answered 500
`internal_error` with the id in the body. Why here: Starlette's ServerErrorMiddleware,
FastAPI's outermost layer, answers such an error and then re-raises it to the server, which
logged "Exception in ASGI application" and closed the keep-alive connection, so a client's
next request on it failed too. An `ApiError` raised outside FastAPI's handlers (by another
ASGI layer) gets its own answer.

Not here: the errors routes raise on purpose (`errors`, mapped inside FastAPI).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Final

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livedesk.api.errors import ApiError
from livedesk.api.store.errors import database_unreachable

log = logging.getLogger(__name__)

HEADER: Final = b"x-request-id"
_SANE: Final = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")


class RequestBoundary:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", ()), (HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, sending)
        except Exception as error:
            if isinstance(error, ApiError) and not started:
                await error.response()(scope, receive, sending)
                return
            if database_unreachable(error) and not started:
                log.warning(
                    "the database did not answer %s %r: %s", scope["method"], scope["path"], error
                )
                await database_unavailable()(scope, receive, sending)
                return
            log.exception(
                "unexpected error answering %s %r (request %s)",
                scope["method"],
                scope["path"],
                request_id,
            )
            # A response already started can only be cut short: the server closes the
            # connection when the app returns without finishing it.
            if not started:
                await internal_error(request_id)(scope, receive, sending)


# A failover or a cut link: the request did not happen and may be retried (a message with
# its client_id is then written once), unlike a defect.
def database_unavailable() -> JSONResponse:
    return ApiError(
        503,
        "database_unavailable",
        "the database is not answering; try again in a moment",
        headers={"Retry-After": "1"},
    ).response()


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER and _SANE.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex


def internal_error(request_id: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": "internal_error",
            "message": f"something went wrong on our side; quote request {request_id} "
            "when you report it",
            "request_id": request_id,
        },
        500,
    )
