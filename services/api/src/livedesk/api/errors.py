"""REST errors: one exception type carrying a stable `code`, the handlers that map
FastAPI's failures to the JSON shape `{"code": ..., "message": ...}` (`schemas.ErrorOut`),
and `documented`, which declares them in the OpenAPI document.

Codes: not_authenticated, token_invalid, token_expired, token_revoked (401);
invalid_credentials, invalid_refresh (401);
forbidden (403); not_found (404); method_not_allowed (405); conflict, version_conflict (409);
resync_required (410); payload_too_large (413); invalid_request (422); too_many_attempts
(429, with Retry-After); internal_error (500); overloaded, unavailable (503, with Retry-After).
Not here: unexpected errors and request ids (`request_boundary`, around the whole app).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from livedesk.api.login_throttle import Throttled, ThrottleUnavailable
from livedesk.api.passwords import Busy
from livedesk.api.queries import InvalidCursor
from livedesk.api.schemas import ErrorOut
from livedesk.api.store.authorship import KindRefused
from livedesk.api.store.errors import InvalidChange, NotFound
from livedesk.shared.errors import LivedeskError

_HTTP_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
}

# What each status means here, for the OpenAPI document (`documented`).
_MEANINGS = {
    401: "not_authenticated, token_invalid, token_expired or token_revoked "
    "(invalid_credentials on login, invalid_refresh on refresh)",
    403: "forbidden: the caller's role may not do this (or write this kind of message)",
    404: "not_found: no such record in the caller's account",
    409: "conflict (already registered) or version_conflict (reload and decide again; on a "
    "conversation, the body carries it as it is now and who changed what last)",
    410: "resync_required: `after` is older than the retained log",
    413: "payload_too_large: the request body is over the limit",
    422: "invalid_request: a parameter or the body breaks its rule; the message says which",
    429: "too_many_attempts: too many failed logins; wait the seconds Retry-After says",
    500: "internal_error: logged with the request id given in the body and X-Request-ID",
    503: "unavailable: done in the database, but the broker did not take the message, or the "
    "login throttle's store did not answer; overloaded: password hashing is at capacity; "
    "wait the seconds Retry-After says and repeat",
}


# The answers that say when to try again.
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route or router: these errors, with the error body."""
    return {
        status: {
            "model": ErrorOut,
            "description": _MEANINGS[status],
            **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status in statuses
    }


class ApiError(LivedeskError):
    """`details`: more of the body, beside code and message, as a route documents it (the
    409 version_conflict's `VersionConflictOut`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers
        self.details = details or {}

    def response(self) -> JSONResponse:
        body = {**self.details, **error_body(self.code, self.message)}
        return JSONResponse(body, self.status, headers=self.headers)


def not_found(what: str, ident: int) -> ApiError:
    # The same answer whether the record is absent or another account's: nothing leaks.
    return ApiError(404, "not_found", f"{what} {ident} not found")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(NotFound)
    async def absent(_: Request, error: NotFound) -> JSONResponse:
        return not_found(error.what, error.ident).response()

    @app.exception_handler(InvalidChange)
    async def invalid_change(_: Request, error: InvalidChange) -> JSONResponse:
        return ApiError(422, "invalid_request", str(error)).response()

    @app.exception_handler(InvalidCursor)
    async def bad_cursor(_: Request, error: InvalidCursor) -> JSONResponse:
        return ApiError(422, "invalid_request", error.message).response()

    @app.exception_handler(KindRefused)
    async def kind_refused(_: Request, error: KindRefused) -> JSONResponse:
        return forbidden(str(error)).response()

    @app.exception_handler(Throttled)
    async def throttled(_: Request, error: Throttled) -> JSONResponse:
        return _retry_later(429, "too_many_attempts", str(error), error.retry_after_s)

    @app.exception_handler(ThrottleUnavailable)
    async def unavailable(_: Request, error: ThrottleUnavailable) -> JSONResponse:
        return _retry_later(503, "unavailable", str(error), error.retry_after_s)

    @app.exception_handler(Busy)
    async def busy(_: Request, error: Busy) -> JSONResponse:
        return _retry_later(503, "overloaded", str(error), error.retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for problem in error.errors():
            if problem.get("type") == "json_invalid":
                problems.append(_not_json(error.body, problem))
                continue
            where = ".".join(str(part) for part in problem.get("loc", ())) or "request"
            problems.append(f"{where}: {problem.get('msg', 'invalid')}")
        return JSONResponse(error_body("invalid_request", "; ".join(problems)), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if isinstance(error.__cause__, ApiError):  # raised while FastAPI read the body
            return error.__cause__.response()
        if error.status_code == 400 and isinstance(error.__cause__, ValueError):
            # FastAPI's "There was an error parsing the body": bytes that are not UTF-8, or
            # a number too long for Python to read.
            return JSONResponse(error_body("invalid_request", _unreadable(error.__cause__)), 422)
        headers = error.headers
        if error.status_code == 405 and (allowed := _allowed_methods(request)):
            # Starlette lists the methods of the first route on the path only (GET of
            # /v1/agents, not its POST); Allow must name every method the path takes.
            headers = {**(headers or {}), "Allow": allowed}
        code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        return JSONResponse(error_body(code, str(error.detail)), error.status_code, headers=headers)


def _retry_later(status: int, code: str, message: str, after_s: int) -> JSONResponse:
    return JSONResponse(error_body(code, message), status, headers={"Retry-After": str(after_s)})


_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _allowed_methods(request: Request) -> str | None:
    """Every method the OpenAPI document gives the request's path (None: not in it)."""
    for template, item in request.app.openapi()["paths"].items():
        if _template(template).fullmatch(request.url.path):
            return ", ".join(sorted(method.upper() for method in item if method in _METHODS))
    return None


@functools.cache
def _template(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)))


def _not_json(body: object, problem: dict[str, Any]) -> str:
    """Where the JSON breaks, as line and column (FastAPI gives a character offset)."""
    position = problem.get("loc", (None,))[-1]
    reason = str((problem.get("ctx") or {}).get("error", ""))
    where = ""
    if isinstance(body, str) and isinstance(position, int):
        line = body.count("\n", 0, position) + 1
        column = position - body.rfind("\n", 0, position)
        where = f" (line {line}, column {column})"
    detail = f": {reason[:1].lower()}{reason[1:]}" if reason else ""
    return f"the request body is not valid JSON{where}{detail}"


def _unreadable(cause: ValueError) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return "the request body is not valid JSON: it is not UTF-8 text"
    # Python's own reasons (a number of over 4,300 digits) name interpreter settings.
    return "the request body could not be read as JSON"
