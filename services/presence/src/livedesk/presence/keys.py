"""The token verifier presence holds once it has one: until then its HTTP API answers 503.

Where the keys come from (a file, else the API's JWKS, retried while the API starts) and how
they are refreshed is `shared.verifying_key`'s; presence waits up to
`presence.jwks_timeout_s`, then stops (`Unavailable`, see `livedesk.shared.lifecycle`).
Presence never holds a private key.
"""

from __future__ import annotations

import httpx

from livedesk.shared.settings import Settings
from livedesk.shared.tokens import TokenVerifier
from livedesk.shared.verifying_key import load_keys, remote_keys


class Keys:
    """Holds the token verifier once there is one."""

    def __init__(self, settings: Settings, verifier: TokenVerifier | None = None) -> None:
        self._settings = settings
        self.verifier = verifier

    async def run(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Load the keys unless given a verifier, then keep them fresh until cancelled;
        `Unavailable` past the timeout, which ends the service."""
        if self.verifier is not None:
            return
        settings = self._settings
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
            keys = remote_keys(settings, http)
            await load_keys(settings, keys, settings.presence.jwks_timeout_s)
            self.verifier = TokenVerifier(keys, issuer=settings.tokens.issuer)
            await keys.run()
