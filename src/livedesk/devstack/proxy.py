"""The development stack's reverse proxy: one origin for the inbox, the REST API, presence
and the WebSockets, as an ingress gives in production.

    /ws             a gateway, round-robin; one that refuses or is down is skipped
    /v1/presence    the presence service
    anything else   the api (the inbox page at / included)

Close codes pass through both ways, so clients see the gateway's 4401 or 4409 as they would
directly; a gateway that dies without a close frame reaches the client as 1012 (restarting).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# Headers about one hop, not the request (RFC 9110, 7.6.1), and those httpx sets itself.
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# A socket's handshake headers the proxy passes on to the gateway.
WS_FORWARDED: Final = ("origin", "user-agent", "cookie")
ABNORMAL: Final = 1006
RESTARTING: Final = 1012
TRY_AGAIN_LATER: Final = 1013


@dataclass(frozen=True)
class Upstreams:
    api: str
    presence: str
    gateways: Sequence[str]  # ws://host:port


class Proxy:
    def __init__(self, upstreams: Upstreams, http: httpx.AsyncClient) -> None:
        self._upstreams, self._http = upstreams, http
        self._turn = itertools.count()
        self._api = _Forward(upstreams.api, http)
        self._presence = _Forward(upstreams.presence, http)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.websocket(WebSocket(scope, receive, send))
        elif scope["type"] == "http":
            path: str = scope["path"]
            to_presence = path == "/v1/presence" or path.startswith("/v1/presence/")
            await (self._presence if to_presence else self._api)(scope, receive, send)

    def _gateways_from_next(self) -> list[str]:
        gateways = list(self._upstreams.gateways)
        start = next(self._turn) % len(gateways)
        return gateways[start:] + gateways[:start]

    async def websocket(self, websocket: WebSocket) -> None:
        if websocket.url.path != "/ws":
            await websocket.close(code=1008)
            return
        headers = [(h, websocket.headers[h]) for h in WS_FORWARDED if h in websocket.headers]
        headers.append(("x-forwarded-for", websocket.client.host if websocket.client else ""))
        upstream = None
        for gateway in self._gateways_from_next():
            try:
                upstream = await connect(
                    gateway + "/ws",
                    additional_headers=headers,
                    max_size=None,
                    ping_interval=None,
                    compression=None,
                    open_timeout=5,
                )
                break
            except InvalidStatus as refused:
                if refused.response.status_code != 503:  # refused, not busy: say so
                    await websocket.close(code=1008)
                    return
            except (OSError, InvalidHandshake, TimeoutError):
                continue
        await websocket.accept()
        if upstream is None:
            await websocket.close(TRY_AGAIN_LATER, "no gateway is answering")
            return
        async with upstream:
            await _pump(websocket, upstream)


class _Forward:
    """Forwards an HTTP request to one upstream, streaming both bodies."""

    def __init__(self, upstream: str, http: httpx.AsyncClient) -> None:
        self._upstream, self._http = upstream, http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path = scope.get("raw_path") or scope["path"].encode()
        headers = [(k, v) for k, v in request.headers.raw if k not in HOP_BY_HOP]
        if request.client:
            headers.append((b"x-forwarded-for", request.client.host.encode()))
        # Built alone, not by the client: `build_request` would add the cookies the client's
        # jar kept from earlier answers, handing one browser's session to the next.
        outgoing = httpx.Request(
            request.method,
            httpx.URL(self._upstream + path.decode("latin-1"), query=scope["query_string"]),
            headers=headers,
            content=request.stream(),
        )
        try:
            answer = await self._http.send(outgoing, stream=True)
        except httpx.HTTPError as error:
            body = {"code": "bad_gateway", "message": f"{self._upstream} did not answer: {error}"}
            await JSONResponse(body, status_code=502)(scope, receive, send)
            return
        response: Response = StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        response.raw_headers = [
            (k, v) for k, v in answer.headers.raw if k.lower() not in HOP_BY_HOP
        ]
        await response(scope, receive, send)


async def _pump(client: WebSocket, upstream: ClientConnection) -> None:
    """Frames both ways until one side closes; then the other is closed with its code."""

    async def from_client() -> None:
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(message.get("code", 1000), message.get("reason") or "")
                return
            if (text := message.get("text")) is not None:
                await upstream.send(text)
            elif (data := message.get("bytes")) is not None:
                await upstream.send(data)

    async def from_upstream() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in upstream:
                if isinstance(frame, str):
                    await client.send_text(frame)
                else:
                    await client.send_bytes(frame)
        code, reason = upstream.close_code, upstream.close_reason or ""
        if code is None or code == ABNORMAL:  # no close frame: the gateway went away
            code, reason = RESTARTING, "the gateway went away"
        with contextlib.suppress(RuntimeError, OSError):  # the client may be gone already
            await client.close(code, reason)

    tasks = [asyncio.create_task(from_client()), asyncio.create_task(from_upstream())]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
