"""The key that verifies the API's tokens, for the services that only verify (gateway, presence).

From `tokens.public_key_path` when set (production mounts it from a secret); otherwise fetched
from the API's JWKS, retried while the API starts, since services started together come up in
any order. How long to wait is the caller's (`lifecycle.reach`): past it the service exits.

Deliberately not here: key rotation (one key id for now), signing (the API's).
"""

from __future__ import annotations

import logging
from typing import Final

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from livedesk.shared.errors import LivedeskError
from livedesk.shared.lifecycle import Unavailable
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import TokenVerifier, load_public_key, public_key_from_jwks

JWKS_PATH: Final = "/.well-known/jwks.json"

log = logging.getLogger(__name__)


def jwks_url(settings: Settings) -> str:
    return settings.api_url.rstrip("/") + JWKS_PATH


def verifier_from_file(settings: Settings) -> TokenVerifier | None:
    """The verifier from the key file, or None when none is configured; a file that cannot be
    read ends the service with one line (`Unavailable`)."""
    path = settings.tokens.public_key_path
    if path is None:
        return None
    try:
        return TokenVerifier(load_public_key(path), issuer=settings.tokens.issuer)
    except (OSError, ValueError, LivedeskError) as error:
        raise Unavailable(f"cannot read the token key file {path}: {error}") from None


async def fetch_verifier(settings: Settings, http: httpx.AsyncClient) -> TokenVerifier:
    """The verifier from the API's JWKS, tried again until it answers or the caller gives up."""
    url = jwks_url(settings)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((httpx.HTTPError, LivedeskError, ValueError, KeyError)),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        before_sleep=lambda state: log.info(
            "the API's token key at %s is not available yet (%s); retrying", url, state.outcome
        ),
    ):
        with attempt:
            response = await http.get(url)
            response.raise_for_status()
            verifier = TokenVerifier(
                public_key_from_jwks(response.json()), issuer=settings.tokens.issuer
            )
            log.info("token key loaded from %s", url)
            return verifier
    raise AssertionError("unreachable: AsyncRetrying retries until cancelled")
