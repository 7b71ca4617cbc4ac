"""Security headers on every HTTP response of an ASGI app: the API, presence, standalone.

Each response gets `X-Content-Type-Options: nosniff` (a JSON body is never run as a script),
`Referrer-Policy: no-referrer` (page URLs carry conversation ids; nothing of them goes to
another site) and, unless the response set its own, the CSP an API answer wants: nothing may
load, no one may frame it. A page sets its own CSP (`page_policy`) naming what it loads.
Written against the ASGI interface itself, so shared needs no web framework.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP: Final = "content-security-policy"
# Not a page: nothing to load, nothing to frame.
API_POLICY: Final = "default-src 'none'; frame-ancestors 'none'"
DEFAULT_HEADERS: Final = (
    (CSP.encode(), API_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP 2
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def page_policy(
    *, script: str = "", style: str = "", img: str = "", worker: str = "", html: str = ""
) -> str:
    """A page's CSP: its own origin, plus the extra sources given, plus a hash of each inline
    `<script>` in `html` (a page built by a library whose inline script we cannot move)."""
    hashes = " ".join(_script_hash(body) for body in _INLINE_SCRIPT.findall(html))
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {script} {hashes}",
        "style-src": f"'self' {style}",
        "img-src": f"'self' {img}",
        "connect-src": "'self'",  # same-host ws:/wss: included (CSP 3)
        "worker-src": f"'self' {worker}",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(" ".join(f"{name} {value}".split()) for name, value in directives.items())


def _script_hash(body: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return f"'sha256-{digest}'"


class SecurityHeaders:
    """Pure ASGI middleware: adds `DEFAULT_HEADERS` a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [pair for pair in DEFAULT_HEADERS if pair[0] not in present]
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, sending)
