"""The keys that verify the API's tokens, for the services that only verify (gateway, presence).

From `tokens.public_key_path` when set (a PEM file holds one key that verifies any kid; a
JWKS file holds keys by kid), otherwise from a JWKS URL (`tokens.jwks_url`, by default the
API's own), over HTTP or HTTPS. The first load is retried while the API starts, since
services started together come up in any order; how long to wait is the caller's
(`lifecycle.reach`): past it the service exits. A file that cannot be read ends the service
at once.

Once loaded, `RemoteKeys` reads its source again every `tokens.jwks_refresh_s` (so a retired
key stops verifying), and when a token names a kid it does not hold (a rotation), but never
twice within `tokens.jwks_min_interval_s` (such a token waits for the floor to pass): tokens
with made-up kids cannot make a gateway hammer the API. PyJWT's `PyJWKClient` does the same
in blocking I/O, which would stall a gateway's event loop, and without that floor; PyJWT
still reads the JWKs.

Deliberately not here: signing and the API's own key directory (`key_set`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Final

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from livedesk.shared.errors import LivedeskError
from livedesk.shared.lifecycle import Unavailable, reach
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import (
    Claims,
    TokenVerifier,
    UnknownKeyId,
    load_public_key,
    public_keys_from_jwks,
)

JWKS_PATH: Final = "/.well-known/jwks.json"
# The name under which a key that verifies any kid (a PEM file's) is held.
ANY_KID: Final = ""

# What a source that cannot be read raises; the set read before is kept.
SOURCE_ERRORS: Final = (httpx.HTTPError, OSError, ValueError, KeyError, LivedeskError)

KeySource = Callable[[], Awaitable[Mapping[str, Ed25519PublicKey]]]

log = logging.getLogger(__name__)


def jwks_url(settings: Settings) -> str:
    return settings.tokens.jwks_url or settings.api_url.rstrip("/") + JWKS_PATH


def key_source_name(settings: Settings) -> str:
    """Where the keys come from, for log lines and for the line a service exits with."""
    path = settings.tokens.public_key_path
    return f"the token key file {path}" if path else f"the API's token key at {jwks_url(settings)}"


class RemoteKeys:
    """Public keys by kid, from a source read again now and then (see the module's doc)."""

    def __init__(
        self,
        source: KeySource,
        *,
        refresh_s: float,
        min_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._source, self._refresh_s, self._floor_s = source, refresh_s, min_interval_s
        self._clock, self._sleep = clock, sleep
        self._keys: Mapping[str, Ed25519PublicKey] = {}
        self._read_at = -math.inf
        self._lock = asyncio.Lock()  # one read at a time; the others wait for its result

    def get(self, kid: str | None) -> Ed25519PublicKey | None:
        return self._keys.get(kid or ANY_KID) or self._keys.get(ANY_KID)

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    async def load(self) -> None:
        """Read the source; its error when it cannot be read."""
        self._read_at = self._clock()
        self._keys = await self._source()

    async def refetch(self) -> bool:
        """Read the source again, once the floor since the last read has passed (a token of
        a key just rotated in waits that long at most, rather than being refused); whether
        the set may have changed. Callers waiting together share one read."""
        seen = self._read_at
        async with self._lock:
            if self._read_at != seen:
                return True  # read while this caller waited for the lock
            wait_s = self._read_at + self._floor_s - self._clock()
            if wait_s > 0:
                await self._sleep(wait_s)
            return await self._reread()

    async def run(self) -> None:
        """Read the source every `refresh_s` until cancelled."""
        while True:
            await asyncio.sleep(self._refresh_s)
            async with self._lock:
                await self._reread()

    @asynccontextmanager
    async def refreshing(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="token-keys-refresh")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _reread(self) -> bool:
        before = set(self._keys)
        try:
            await self.load()
        except SOURCE_ERRORS as error:  # keep verifying with what we have
            log.warning("cannot read the token keys again (keeping %s): %s", sorted(before), error)
            return False
        if set(self._keys) != before:
            log.info("token keys now: %s", ", ".join(sorted(self._keys)) or "(any kid)")
            return True
        return False


def remote_keys(
    settings: Settings, http: httpx.AsyncClient, clock: Callable[[], float] = time.monotonic
) -> RemoteKeys:
    """The keys from the configured file, else from the JWKS URL."""
    path = settings.tokens.public_key_path
    source = _file_source(path) if path is not None else _jwks_source(jwks_url(settings), http)
    return RemoteKeys(
        source,
        refresh_s=settings.tokens.jwks_refresh_s,
        min_interval_s=settings.tokens.jwks_min_interval_s,
        clock=clock,
    )


def _file_source(path: Path) -> KeySource:
    def read() -> Mapping[str, Ed25519PublicKey]:
        content = path.read_bytes()
        if content.lstrip().startswith(b"{"):
            return public_keys_from_jwks(json.loads(content))
        return {ANY_KID: load_public_key(path)}

    async def read_aside() -> Mapping[str, Ed25519PublicKey]:
        return await asyncio.to_thread(read)  # a mounted volume may be slow to answer

    return read_aside


def _jwks_source(url: str, http: httpx.AsyncClient) -> KeySource:
    async def fetch() -> Mapping[str, Ed25519PublicKey]:
        response = await http.get(url)
        response.raise_for_status()
        return public_keys_from_jwks(response.json())

    return fetch


async def load_keys(settings: Settings, keys: RemoteKeys, timeout_s: float) -> None:
    """The first load: a file at once, a URL tried again until it answers or `timeout_s` has
    passed; `Unavailable` (the service's exit) when neither gives keys."""
    what = key_source_name(settings)
    if settings.tokens.public_key_path is not None:
        try:
            await keys.load()
        except SOURCE_ERRORS as error:
            raise Unavailable(f"cannot read {what}: {error}") from None
        return
    await reach(what, _load_retrying(what, keys), timeout_s)
    log.info("token keys loaded from %s", what)


async def _load_retrying(what: str, keys: RemoteKeys) -> None:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(SOURCE_ERRORS),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        before_sleep=lambda state: log.info(
            "%s is not available yet (%s); retrying", what, state.outcome
        ),
    ):
        with attempt:
            await keys.load()


async def verify_fetching(verifier: TokenVerifier, token: str) -> Claims:
    """Verify; a token naming a kid not held yet is tried again once the keys are re-read."""
    try:
        return verifier.verify(token)
    except UnknownKeyId:
        if not await verifier.keys.refetch():
            raise
        return verifier.verify(token)
