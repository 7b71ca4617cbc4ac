"""Password hashing with argon2id (memory-hard), off the event loop, a bounded few at once.

A hash takes tens of milliseconds of CPU and 64 MiB on purpose, so it runs in a worker
thread: one login must not stall every other request. At most `concurrency` hashes run at
once and at most `queue` wait for a turn; past that a hash is refused at once (`Busy`, 503)
rather than queued without end, so a login flood can neither exhaust memory nor starve the
requests that are not logins. Not here: who may log in (see routes.auth).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livedesk.shared.errors import LivedeskError
from livedesk.shared.settings import ApiSettings

T = TypeVar("T")

# What a refused caller is told to wait: about the time the queue takes to drain.
BUSY_RETRY_AFTER_S = 1


class Busy(LivedeskError):
    """Every hashing slot is taken and the queue is full."""

    def __init__(self) -> None:
        super().__init__("password hashing is at capacity")
        self.retry_after_s = BUSY_RETRY_AFTER_S


def default_concurrency() -> int:
    """The CPUs this process may use, but one: the event loop keeps a core for the rest."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class Passwords:
    def __init__(
        self, *, time_cost: int, memory_kib: int, concurrency: int | None = None, queue: int = 16
    ) -> None:
        """`concurrency` None: `default_concurrency()`."""
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._slots = asyncio.Semaphore(concurrency or default_concurrency())
        self._queue = queue
        self._waiting = 0
        # Verified against when the e-mail is unknown, so that a miss costs what a hit does
        # and response times do not tell which e-mails exist.
        self._decoy = self._hasher.hash("livedesk-decoy-password")

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> Passwords:
        return cls(
            time_cost=settings.password_time_cost,
            memory_kib=settings.password_memory_kib,
            concurrency=settings.password_hash_concurrency,
            queue=settings.password_hash_queue,
        )

    def refuse_if_full(self) -> None:
        """Raise `Busy` now if a hash would be refused: lets a caller skip the work before
        it (a database read) in a flood. Reserves nothing; `hash` and `verify` decide."""
        if self._slots.locked() and self._waiting >= self._queue:
            raise Busy

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await self._bounded(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether the hash was made with other cost settings than today's."""
        return self._hasher.check_needs_rehash(stored_hash)

    async def _bounded(self, work: Callable[..., T], *args: str | None) -> T:
        if self._slots.locked():
            self.refuse_if_full()
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            return await asyncio.to_thread(work, *args)
        finally:
            self._slots.release()

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(stored_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored_hash is not None
