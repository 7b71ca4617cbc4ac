"""What the API's web layers add to each request: the security headers, and CORS when origins
are listed, each around an app that answers at once (no server, no socket: the layer alone).

    .venv/bin/python -m bench.web_layers [--requests N]

Prints microseconds per request bare and with each layer. Compare with the API's CPU per
write in docs/performance.md ("API writes") to see the share.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from livedesk.shared.web_headers import ASGIApp, SecurityHeaders

Message = MutableMapping[str, Any]
# A same-origin POST from a browser: Origin is sent, and it is not a listed one.
HEADERS = [(b"host", b"api.example.com"), (b"origin", b"https://api.example.com")]


async def answer(scope: Message, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> Message:
    return {"type": "http.request", "body": b""}


async def send(_: Message) -> None:
    return None


async def per_request_us(app: ASGIApp, requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": HEADERS}
        await app(scope, receive, send)
    return (time.perf_counter() - start) / requests * 1e6


def cors(app: ASGIApp) -> ASGIApp:
    listed = ["https://inbox.example.com"]
    return CORSMiddleware(app, listed, allow_credentials=True, allow_methods=["*"])


async def main(requests: int) -> None:
    variants: dict[str, ASGIApp] = {
        "bare": answer,
        "security headers": SecurityHeaders(answer),
        "cors (origins listed)": cors(answer),
        "both": SecurityHeaders(cors(answer)),
    }
    for name, app in variants.items():
        await per_request_us(app, requests // 10)  # warm up
        print(f"{name:<24} {await per_request_us(app, requests):6.2f} us/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().requests))
