"""The password hasher: an unknown e-mail costs one verification as a known one does, the
pool refuses past its queue instead of queueing without end, and a hash of another cost is
due for rehashing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from argon2 import PasswordHasher

from livedesk.api.passwords import Busy, Passwords

CHEAP: dict[str, Any] = {"time_cost": 1, "memory_kib": 8}


async def test_an_unknown_email_costs_one_verification_as_a_known_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passwords = Passwords(**CHEAP)
    stored = await passwords.hash("the password")
    calls: list[str] = []
    verify = PasswordHasher.verify

    def counted(self: PasswordHasher, hash_: str, password: str) -> bool:
        calls.append(hash_)
        return verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    assert await passwords.verify(stored, "the password")
    assert not await passwords.verify(None, "the password")
    assert not await passwords.verify(None, "livedesk-decoy-password")  # the decoy's own
    # One argon2 verification each, of the same cost: the unknown ones against the decoy.
    assert len(calls) == 3
    assert calls[1] == calls[2] != stored
    assert calls[1].split("$")[3] == stored.split("$")[3]  # m=8,t=1,p=1


async def test_the_pool_refuses_past_its_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = Passwords(**CHEAP, concurrency=1, queue=1)
    release = threading.Event()
    started = threading.Event()

    def blocking(_: PasswordHasher, __: str, ___: str) -> bool:
        started.set()
        release.wait(5)
        return True

    monkeypatch.setattr(PasswordHasher, "verify", blocking)
    running = asyncio.create_task(passwords.verify("h", "p"))
    await asyncio.to_thread(started.wait, 5)
    waiting = asyncio.create_task(passwords.verify("h", "p"))
    await asyncio.sleep(0)  # the second takes the queue's one place
    with pytest.raises(Busy) as refused:
        await passwords.verify("h", "p")
    assert refused.value.retry_after_s >= 1
    release.set()
    assert await running
    assert await waiting
    assert await passwords.verify("h", "p")  # room again once they are done


async def test_a_hash_of_another_cost_needs_rehashing() -> None:
    old = await Passwords(**CHEAP).hash("pw")
    assert not Passwords(**CHEAP).needs_rehash(old)
    assert Passwords(time_cost=2, memory_kib=8).needs_rehash(old)
    assert Passwords(time_cost=1, memory_kib=16).needs_rehash(old)
