"""REST errors: one exception type carrying a stable `code`, and the one place that maps
every failure to the JSON shape `{"code": ..., "message": ...}`.

Codes: not_authenticated, token_invalid, token_expired (401); invalid_credentials (401);
forbidden (403); not_found (404); method_not_allowed (405); conflict, version_conflict (409);
resync_required (410); payload_too_large (413); invalid_request (422); internal_error (500).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from livedesk.shared.errors import LivedeskError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
}


class ApiError(LivedeskError):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers


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
        return JSONResponse(
            error_body(error.code, error.message), error.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for problem in error.errors():
            where = ".".join(str(part) for part in problem.get("loc", ())) or "request"
            problems.append(f"{where}: {problem.get('msg', 'invalid')}")
        return JSONResponse(error_body("invalid_request", "; ".join(problems)), 422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        return JSONResponse(
            error_body(code, str(error.detail)), error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return JSONResponse(error_body("internal_error", "internal server error"), 500)
