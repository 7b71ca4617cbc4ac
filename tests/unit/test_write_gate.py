"""The gate a publisher waits at before it writes to the broker's socket (`write_gate`)."""

from __future__ import annotations

import asyncio

import pytest

from livedesk.shared.bus.rabbit.fast.write_gate import WriteGate


async def waits(gate: WriteGate) -> asyncio.Future[None]:
    waiting = asyncio.ensure_future(gate.wait())
    await asyncio.sleep(0)
    return waiting


async def test_an_open_gate_lets_a_publisher_through_without_a_turn_of_the_loop() -> None:
    gate = WriteGate()
    step = gate.wait().__await__()
    with pytest.raises(StopIteration):  # done at the first step: nothing was awaited
        step.send(None)


async def test_the_gate_stays_shut_until_the_broker_unblocks_and_the_buffer_drains() -> None:
    gate = WriteGate()
    gate.block(True)
    waiting = await waits(gate)
    gate.pause(True)
    gate.block(False)  # unblocked, but the transport's buffer is still over its mark
    await asyncio.sleep(0)
    assert not waiting.done()
    gate.pause(False)
    await asyncio.wait_for(waiting, 1)


async def test_a_shut_gate_that_opens_and_shuts_again_before_the_waiter_runs_holds_it() -> None:
    gate = WriteGate()
    gate.block(True)
    waiting = await waits(gate)
    gate.block(False)
    gate.block(True)
    await asyncio.sleep(0)
    assert not waiting.done()
    gate.block(False)
    await asyncio.wait_for(waiting, 1)


async def test_a_lost_socket_fails_whoever_waits_and_whoever_comes() -> None:
    gate = WriteGate()
    gate.block(True)
    waiting = await waits(gate)
    gate.lose(OSError("reset"))
    with pytest.raises(ConnectionError, match="reset"):
        await asyncio.wait_for(waiting, 1)
    with pytest.raises(ConnectionError):
        await gate.wait()
