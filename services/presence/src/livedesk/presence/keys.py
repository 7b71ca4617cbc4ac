"""The token verifier presence holds once it has one: until then its HTTP API answers 503.

Where the key comes from (a file, else the API's JWKS, retried while the API starts) is
`shared.verifying_key`'s; presence waits up to `presence.jwks_timeout_s`, then stops
(`Unavailable`, see `livedesk.shared.lifecycle`). Presence never holds a private key.
"""

from __future__ import annotations

import httpx

from livedesk.shared.lifecycle import reach
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import TokenVerifier
from livedesk.shared.verifying_key import fetch_verifier, jwks_url, verifier_from_file


class Keys:
    """Holds the token verifier once there is one."""

    def __init__(self, settings: Settings, verifier: TokenVerifier | None = None) -> None:
        self._settings = settings
        self.verifier = verifier if verifier is not None else verifier_from_file(settings)

    async def fetch(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Fetch the key from the API's JWKS unless we have one; `Unavailable` past the
        timeout, which ends the service."""
        if self.verifier is not None:
            return
        what = f"the API's token key at {jwks_url(self._settings)}"
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
            self.verifier = await reach(
                what, fetch_verifier(self._settings, http), self._settings.presence.jwks_timeout_s
            )
