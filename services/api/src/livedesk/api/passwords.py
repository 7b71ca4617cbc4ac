"""Password hashing with argon2id (memory-hard), off the event loop.

A hash takes tens of milliseconds of CPU on purpose, so it runs in a worker thread: one
login must not stall every other request. Not here: who may log in (see routes.auth).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Verified against when the e-mail is unknown, so that a miss costs what a hit does
        # and response times do not tell which e-mails exist.
        self._decoy = self._hasher.hash("livedesk-decoy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(stored_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored_hash is not None
