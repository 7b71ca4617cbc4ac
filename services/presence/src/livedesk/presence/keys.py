"""Where presence gets the public key that verifies users' tokens.

From `settings.tokens.public_key_path` when set (read at start-up: a missing file fails the
start). Otherwise from the API's `{api_url}/.well-known/jwks.json`, retried with backoff for up
to `presence.jwks_timeout_s`, because the API may start after presence; until then the HTTP
API answers 503, and past it presence stops (`Unavailable`). Presence never holds a private
key, so it cannot mint tokens.
"""

from __future__ import annotations

import logging

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from livedesk.shared.errors import LivedeskError
from livedesk.shared.lifecycle import reach
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import (
    TokenVerifier,
    load_public_key,
    public_key_from_jwks,
)

log = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"


class Keys:
    """Holds the token verifier once there is one."""

    def __init__(self, settings: Settings, verifier: TokenVerifier | None = None) -> None:
        self._settings = settings
        self.verifier = verifier
        path = settings.tokens.public_key_path
        if verifier is None and path is not None:
            self.verifier = TokenVerifier(load_public_key(path), issuer=settings.tokens.issuer)

    async def fetch(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Fetch the key from the API's JWKS unless we have one; `Unavailable` past the
        timeout, which ends the service (see `livedesk.shared.lifecycle`)."""
        if self.verifier is not None:
            return
        url = self._settings.api_url.rstrip("/") + JWKS_PATH
        timeout_s = self._settings.presence.jwks_timeout_s
        key = await reach(f"the API's token key at {url}", self._fetch(url, transport), timeout_s)
        self.verifier = TokenVerifier(key, issuer=self._settings.tokens.issuer)
        log.info("token key loaded from %s", url)

    async def _fetch(
        self, url: str, transport: httpx.AsyncBaseTransport | None
    ) -> Ed25519PublicKey:
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
            async for attempt in AsyncRetrying(  # until `reach` gives up
                retry=retry_if_exception_type((httpx.HTTPError, LivedeskError, ValueError)),
                wait=wait_exponential(multiplier=0.2, max=5.0),
                before_sleep=lambda state: log.info(
                    "JWKS from %s not available yet (%s); retrying", url, state.outcome
                ),
            ):
                with attempt:
                    response = await client.get(url)
                    response.raise_for_status()
                    return public_key_from_jwks(response.json())
        raise AssertionError("unreachable: AsyncRetrying retries until cancelled")
