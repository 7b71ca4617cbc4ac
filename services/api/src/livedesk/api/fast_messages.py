"""POST /v1/conversations/{id}/messages on PostgreSQL, without FastAPI's per-request work.

Why: posting a message is the API's hot path, and its write is one statement
(`message_writer`). Around it, FastAPI's routing over every route, dependency solving, the
Request object and body validation cost about as much CPU as the write itself.

What: an ASGI layer inside the body limit and the request metrics. It answers a request
only when it can answer exactly as the route in `routes.messages` would: that path, POST,
a JSON body with a Content-Length that `MessageCreate` accepts, a bearer token the
verifier accepts, and a conversation of the caller's account. Anything else (no token, a
bad one, a bad body, an unknown conversation, chunked uploads, every other path) goes on
to FastAPI untouched, with the body it read handed on, so every error keeps its one shape
and its one place (`deps`, `errors`, `routes.messages`) and /docs still lists the route.
Nothing is written before the request is known to be answerable here, except a write to
a conversation that turns out not to be the caller's, which writes nothing. A write that
fails (the database) raises up to `request_boundary`, which answers it as it answers any
route's unexpected error: a logged 500 with the request's id, the connection kept.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livedesk.api.message_writer import PgMessageWriter
from livedesk.api.schemas import MessageCreate
from livedesk.api.token_cache import CachingVerifier
from livedesk.shared.tokens import TokenError

# Ids of at most 18 digits with no leading zero: always within `Id` (1..2**63-1), and
# spelled the one way FastAPI would read them. Others go to FastAPI, which decides.
_PATH: Final = re.compile(r"/v1/conversations/([1-9][0-9]{0,17})/messages")
_JSON: Final = b"application/json"


class FastMessagePost:
    def __init__(
        self,
        app: ASGIApp,
        *,
        writer: PgMessageWriter,
        tokens: CachingVerifier,
        route: APIRoute,
    ) -> None:
        self._app, self._writer, self._tokens, self._route = app, writer, tokens, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        matched = _PATH.fullmatch(scope["path"])
        length = token = None
        content_type = b""
        if matched is not None:
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name == b"authorization":
                    token = value
                elif name == b"content-type":
                    content_type = value
        if matched is None or length is None or token is None or not _is_json(content_type):
            await self._app(scope, receive, send)
            return
        body, gone = await _read_body(receive)
        if gone is not None:  # the client went away mid-body: nobody to answer
            return
        if not await self._answer(scope, send, int(matched[1]), token, body):
            await self._app(scope, _replay(body, receive), send)

    async def _answer(
        self, scope: Scope, send: Send, conversation_id: int, authorization: bytes, body: bytes
    ) -> bool:
        """Write and answer if every check passes; False (nothing written) if any fails."""
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return False
        try:
            claims = self._tokens.verify(token)
            create = MessageCreate.model_validate_json(body)
        except (TokenError, ValidationError):
            return False
        written = await self._writer.post(claims, conversation_id, create)
        if written is None:
            return False  # not the caller's conversation: FastAPI answers the 404
        scope["route"] = self._route  # what the request metrics label it with
        answer = written.message.model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201 if written.created else 200,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    (b"content-type", _JSON),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})
        return True


def _is_json(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() == _JSON


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body; or, if the client disconnected first, that message."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
