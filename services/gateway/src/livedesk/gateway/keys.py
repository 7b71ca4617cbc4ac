"""Where the gateway gets the key that verifies tokens: a PEM file, else the API's JWKS.

Gateways hold the public key only. With `tokens.public_key_path` set (production mounts it
from a secret) it is read from there; otherwise it is fetched from
`{api_url}/.well-known/jwks.json`, retried while the API starts, because gateways and the API
are started together and either may come up first.

Deliberately not here: key rotation (one key id, `livedesk-1`, for now).
"""

from __future__ import annotations

import logging

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from livedesk.shared.settings import Settings
from livedesk.shared.tokens import TokenError, TokenVerifier, load_public_key, public_key_from_jwks

log = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"


async def load_verifier(settings: Settings, http: httpx.AsyncClient) -> TokenVerifier:
    path = settings.tokens.public_key_path
    if path is not None:
        return TokenVerifier(load_public_key(path), issuer=settings.tokens.issuer)
    url = settings.api_url.rstrip("/") + JWKS_PATH
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((httpx.HTTPError, TokenError, ValueError, KeyError)),
        stop=stop_after_delay(settings.bus.connect_timeout_s),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        reraise=True,
    ):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                log.info("waiting for the API's JWKS at %s", url)
            response = await http.get(url)
            response.raise_for_status()
            key = public_key_from_jwks(response.json())
            return TokenVerifier(key, issuer=settings.tokens.issuer)
    raise AssertionError("unreachable: AsyncRetrying re-raises the last error")
