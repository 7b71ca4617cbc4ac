"""Login throttling: failed logins counted per e-mail and per client address, with `limits`.

Each key has tiers of moving windows (5 a minute, 10 in 15 minutes, ...): a guesser who
waits out one tier soon meets the next, longer one, so the wait grows as the failures go on.
A login is refused (`Throttled`, 429) before its password is hashed when a tier of its
e-mail or of its address is spent, so a refused guess costs the server almost nothing.
Only failures are counted; a success neither counts nor forgives (an attacker who owns one
account must not reset the count of the address they guess from), so the tiers are wide
enough for a person's typos.

The counts live in this process's memory, or in Redis when `redis_url` is set, so that
replicas share them. Not here: who the client is (`client_address`), hashing (`passwords`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence

import coredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from livedesk.shared.errors import LivedeskError
from livedesk.shared.settings import Settings

EMAIL_KEY = "login-email"
ADDRESS_KEY = "login-address"
# What a login refused for want of Redis is told to wait: about a reconnect's time.
UNAVAILABLE_RETRY_AFTER_S = 5


class Throttled(LivedeskError):
    """Too many failed logins for this e-mail or address; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ThrottleUnavailable(LivedeskError):
    """The counts' store (Redis) did not answer: logins are refused rather than let through
    uncounted, which would lift the throttle for as long as Redis is away."""

    def __init__(self) -> None:
        super().__init__("the login throttle's store is unreachable")
        self.retry_after_s = UNAVAILABLE_RETRY_AFTER_S


class LoginThrottle:
    def __init__(
        self,
        storage: Storage,
        per_email: Sequence[RateLimitItem],
        per_address: Sequence[RateLimitItem],
        redis_pool: coredis.ConnectionPool | None = None,
    ) -> None:
        """`redis_pool`: the Redis storage's connections, closed when `run` ends."""
        self._storage, self._redis_pool = storage, redis_pool
        self._limiter = MovingWindowRateLimiter(storage)
        self._tiers = ((EMAIL_KEY, tuple(per_email)), (ADDRESS_KEY, tuple(per_address)))

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        tiers = (
            parse_many(settings.api.login_failures_per_email),
            parse_many(settings.api.login_failures_per_address),
        )
        if settings.redis_url is None:
            return cls(MemoryStorage(), *tiers)
        pool = coredis.ConnectionPool.from_url(settings.redis_url)
        # limits documents `connection_pool`; its annotation for options leaves it out.
        storage = RedisStorage(
            f"async+{settings.redis_url}",
            wrap_exceptions=True,  # one error type, StorageError, whatever the client raises
            connection_pool=pool,  # type: ignore[arg-type]
        )
        return cls(storage, *tiers, redis_pool=pool)

    async def check(self, email: str, address: str) -> None:
        """Raise `Throttled` if a tier of the e-mail or of the address is spent
        (`ThrottleUnavailable`: the store did not answer)."""
        try:
            waits = [
                await self._wait_s(item, key, value)
                for key, value, item in self._items(email, address)
                if not await self._limiter.test(item, key, value)
            ]
        except StorageError:
            raise ThrottleUnavailable from None
        if waits:
            raise Throttled(max(waits))

    async def failed(self, email: str, address: str) -> None:
        """Count a failed login (`ThrottleUnavailable`: the store did not answer)."""
        try:
            for key, value, item in self._items(email, address):
                await self._limiter.hit(item, key, value)
        except StorageError:
            raise ThrottleUnavailable from None

    async def run(self) -> None:
        """Hold the storage until cancelled; then close Redis's connections, or stop the
        memory storage's expiry task."""
        try:
            await asyncio.Event().wait()
        finally:
            if self._redis_pool is not None:
                self._redis_pool.disconnect()
            elif isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
                # Left to itself, the expiry task outlives the loop; `reset()` would not stop it.
                self._storage.timer.cancel()

    def _items(self, email: str, address: str) -> list[tuple[str, str, RateLimitItem]]:
        values = {EMAIL_KEY: email, ADDRESS_KEY: address}
        return [(key, values[key], item) for key, items in self._tiers for item in items]

    async def _wait_s(self, item: RateLimitItem, key: str, value: str) -> int:
        stats = await self._limiter.get_window_stats(item, key, value)
        return max(1, math.ceil(stats.reset_time - time.time()))
