"""RuntimeBindings against a channel that records its RPCs: what the record holds after
binds, unbinds and failures, and what a restore binds again."""

from __future__ import annotations

import asyncio
from typing import cast

import aiormq.abc
import pytest

from livedesk.shared.bus.rabbit.fast.bindings import RuntimeBindings

QUEUE = "livedesk.node.test"


class FakeChannel:
    """queue_bind/queue_unbind as RPCs that take a turn of the loop, in the order sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail_next: BaseException | None = None

    async def queue_bind(self, queue: str, exchange: str, routing_key: str = "") -> None:
        await self._rpc("bind", queue, exchange, routing_key)

    async def queue_unbind(self, queue: str, exchange: str, routing_key: str = "") -> None:
        await self._rpc("unbind", queue, exchange, routing_key)

    async def _rpc(self, op: str, queue: str, exchange: str, routing_key: str) -> None:
        assert queue == QUEUE
        self.sent.append((op, exchange, routing_key))
        await asyncio.sleep(0)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error


def channel_of(fake: FakeChannel) -> aiormq.abc.AbstractChannel:
    return cast(aiormq.abc.AbstractChannel, fake)


async def test_the_record_holds_what_is_bound() -> None:
    fake, bindings = FakeChannel(), RuntimeBindings(QUEUE)
    await bindings.bind(channel_of(fake), "ex", "acct.1.#")
    await bindings.bind(channel_of(fake), "ex", "acct.2.#")
    await bindings.unbind(channel_of(fake), "ex", "acct.1.#")

    assert ("ex", "acct.2.#") in bindings
    assert ("ex", "acct.1.#") not in bindings
    assert len(bindings) == 1


async def test_a_failed_bind_is_not_recorded() -> None:
    fake, bindings = FakeChannel(), RuntimeBindings(QUEUE)
    fake.fail_next = ConnectionError("dropped")
    with pytest.raises(ConnectionError):
        await bindings.bind(channel_of(fake), "ex", "acct.1.#")
    assert len(bindings) == 0


async def test_a_failed_unbind_stays_recorded_and_is_restored() -> None:
    fake, bindings = FakeChannel(), RuntimeBindings(QUEUE)
    await bindings.bind(channel_of(fake), "ex", "acct.1.#")
    fake.fail_next = ConnectionError("dropped")
    with pytest.raises(ConnectionError):
        await bindings.unbind(channel_of(fake), "ex", "acct.1.#")

    assert ("ex", "acct.1.#") in bindings  # the caller still counts it as bound
    reopened = FakeChannel()
    await bindings.restore(channel_of(reopened))
    assert reopened.sent == [("bind", "ex", "acct.1.#")]


async def test_a_restore_does_not_bind_again_what_is_unbound_meanwhile() -> None:
    fake, bindings = FakeChannel(), RuntimeBindings(QUEUE)
    for account in range(3):
        await bindings.bind(channel_of(fake), "ex", f"acct.{account}.#")
    reopened = FakeChannel()

    restore = asyncio.create_task(bindings.restore(channel_of(reopened)))
    await asyncio.sleep(0)  # the restore's first bind is in flight
    await bindings.unbind(channel_of(reopened), "ex", "acct.2.#")
    await restore

    # Sent after the unbind, a bind of acct.2 would leave it bound with nothing recorded.
    assert ("bind", "ex", "acct.2.#") not in reopened.sent
    assert sorted(reopened.sent) == [
        ("bind", "ex", "acct.0.#"),
        ("bind", "ex", "acct.1.#"),
        ("unbind", "ex", "acct.2.#"),
    ]
    assert len(bindings) == 2
