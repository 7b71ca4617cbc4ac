"""Where tokens come from, and when one runs out.

The client asks a token provider (a callable returning a token, or an awaitable of one) for
each new socket when it has no token or its token is near its end, again on a live socket
before it expires, and after a 4401 close whose reason is `token_expired`. `expires_at` reads
the token's `exp` claim without verifying the signature: the gateway verifies; the client
only needs to know when to ask for the next one. `password_login` is a provider for scripts
that hold a login instead of a token.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable

import httpx

TokenProvider = Callable[[], str | Awaitable[str]]


def expires_at(token: str) -> float | None:
    """The `exp` claim of a JWT in seconds since the epoch; None if it has none or is opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None


class LoginError(Exception):
    """The API refused the login; its message says why."""


def password_login(api_url: str, email: str, password: str) -> Callable[[], Awaitable[str]]:
    """A token provider that logs in at `api_url` (`POST /v1/auth/token`) for each token."""

    async def token() -> str:
        async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
            response = await http.post(
                "/v1/auth/token", json={"email": email, "password": password}
            )
        if response.status_code != 200:
            raise LoginError(f"login refused ({response.status_code}): {response.text[:200]}")
        access_token = response.json().get("access_token")
        if not isinstance(access_token, str):
            raise LoginError("the login answer has no access_token")
        return access_token

    return token
