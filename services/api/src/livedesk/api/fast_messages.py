"""The fast message route: POST /v1/conversations/{id}/messages answered by an ASGI layer,
before FastAPI's per-request work, with the same store write as the FastAPI route
(`routes.messages`) and the same answers. A second implementation beside that route, never
the only one: `fast_route_chosen` installs it, or not (the setting, the import check).

It answers only what it can answer exactly as the route would: that path, POST, a JSON body
with a Content-Length that `MessageCreate` accepts, a bearer token `AccessCheck` accepts, a
conversation of the caller's account. Everything else (every error included) goes on to
FastAPI untouched, with the body it read, so each error keeps its one shape and place and
/docs lists the route. A write that fails raises to `request_boundary`, as a route's would.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livedesk.api.access import AccessCheck
from livedesk.api.schemas import MessageCreate
from livedesk.api.store.authorship import KindRefused
from livedesk.api.store.base import Store
from livedesk.api.store.errors import NotFound
from livedesk.shared.settings import ApiSettings
from livedesk.shared.tokens import TokenError

# Why this route exists and when to delete it: docs/adr/0003-fast-message-route.md
log = logging.getLogger(__name__)

# Ids of at most 18 digits with no leading zero: always within `Id` (1..2**63-1), and
# spelled the one way FastAPI would read them. Others go to FastAPI, which decides.
_PATH: Final = re.compile(r"/v1/conversations/([1-9][0-9]{0,17})/messages")
_JSON: Final = b"application/json"


def fast_route_chosen(settings: ApiSettings, problem: str | None) -> bool:
    """Whether to install the fast route: asked for, and nothing it relies on is missing
    (`problem`: `fast_messages_compat.FAST_ROUTE_PROBLEM`)."""
    if not settings.fast_message_route:
        return False
    if problem is not None:
        log.warning("message posts on the FastAPI route only: %s", problem)
        return False
    return True


class FastMessagePost:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Store,
        tokens: AccessCheck,
        route: APIRoute,
    ) -> None:
        self._app, self._store, self._tokens, self._route = app, store, tokens, route

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
            claims = await self._tokens.verify(token)
            create = MessageCreate.model_validate_json(body)
        except (TokenError, ValidationError):
            return False
        try:
            posted = await self._store.post_message(
                claims.account_id, claims.user_id, conversation_id, create
            )
        except (NotFound, KindRefused):
            return False  # not the caller's conversation, or kind: FastAPI answers the error
        scope["route"] = self._route  # what the request metrics label it with
        answer = posted.message.model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201 if posted.created else 200,
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
