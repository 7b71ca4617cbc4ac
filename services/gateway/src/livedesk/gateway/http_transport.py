"""The gateway's HTTP transport: a GET that meets a pooled connection closed under it is sent
again once, on a fresh connection.

A keep-alive connection idle in the pool can be closed by the server (uvicorn after 5 s) just
as a request goes out on it; the request then fails with "Server disconnected" or an empty
read though the server is up, and a socket arriving then would be refused with 1013. Every
request the gateway makes (replay, latest offset, conversation ownership, presence) is an
idempotent GET, so sending it again is safe; a second failure is the server's answer and is
raised.

Deliberately not here: which requests are made (api_client, presence_client).
"""

from __future__ import annotations

from typing import Final

import httpx

# What a request on a connection the server had already closed fails with.
STALE_CONNECTION: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class RetryStaleConnections(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except STALE_CONNECTION:
            if request.method != "GET":
                raise
            return await super().handle_async_request(request)
