"""Refuse request bodies over the size limit before they are read whole (413).

A declared Content-Length over the limit is refused at once; a chunked body is counted as
it arrives and cut off when it passes the limit. Not here: field limits (see `schemas`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livedesk.api.errors import ApiError


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app, self._max = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self._max:
                await _refuse(send, self._max)
                return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    # Read by FastAPI, this comes back as the cause of its 400 "error parsing
                    # the body"; `errors` answers it as this 413 (so does `request_boundary`
                    # for a reader outside FastAPI).
                    raise ApiError(413, "payload_too_large", _too_large(self._max))
            return message

        await self._app(scope, counting, send)


def _too_large(max_bytes: int) -> str:
    return f"request body over {max_bytes} bytes"


async def _refuse(send: Send, max_bytes: int) -> None:
    body = b'{"code":"payload_too_large","message":"' + _too_large(max_bytes).encode() + b'"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
