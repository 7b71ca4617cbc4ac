"""Resumes served from the node's resume buffers, the API only for what they no longer hold."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from livedesk.gateway import protocol
from livedesk.gateway.api_client import ReplayPage
from tests.support.clock import settle
from tests.support.gateway import Keys
from tests.unit.gateway.harness import Harness, running


async def stream(gw: Harness, account_id: int, count: int) -> None:
    for _ in range(count):
        await gw.log.post(account_id, 10)


def sources(gw: Harness) -> tuple[float, float]:
    name = "livedesk_gateway_resume_sources_total"
    return gw.metric(name, source="memory"), gw.metric(name, source="api")


async def test_a_resume_inside_the_buffer_makes_no_replay_call(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        anchor = await gw.ready(1)
        await stream(gw, 1, 10)
        await gw.until(lambda: len(anchor.offsets()) == 10)
        calls = gw.log.replay_calls
        points = (0, 5, 9)  # the oldest edge, inside, the newest edge
        resumed = [(p, await gw.ready(1, user_id=2 + p, resume_from=p)) for p in points]
        await gw.until(lambda: all(len(s.offsets()) == 10 - p for p, s in resumed))
        await stream(gw, 1, 3)  # the live stream follows the seam
        await gw.until(lambda: all(len(s.offsets()) == 13 - p for p, s in resumed))
        for point, socket in resumed:
            assert socket.offsets() == list(range(point + 1, 14))
        assert gw.log.replay_calls == calls
        assert sources(gw) == (3, 0)


async def test_a_resume_older_than_the_buffer_goes_to_the_api(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05, resume_buffer_events=5) as gw:
        anchor = await gw.ready(1)
        await stream(gw, 1, 10)  # the buffer keeps 6..10
        await gw.until(lambda: len(anchor.offsets()) == 10)
        calls = gw.log.replay_calls
        at_edge = await gw.ready(1, 2, resume_from=5)
        await gw.until(lambda: len(at_edge.offsets()) == 5)
        assert gw.log.replay_calls == calls
        older = await gw.ready(1, 3, resume_from=4)
        await gw.until(lambda: len(older.offsets()) == 6)
        assert gw.log.replay_calls == calls + 1
        await stream(gw, 1, 2)
        await gw.until(lambda: len(older.offsets()) == 8 and len(at_edge.offsets()) == 7)
        assert at_edge.offsets() == list(range(6, 13))
        assert older.offsets() == list(range(5, 13))
        assert sources(gw) == (1, 1)


async def test_api_pages_then_the_buffer_join_with_no_gap_and_no_duplicate(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05, resume_buffer_events=4, replay_page_size=3) as gw:
        anchor = await gw.ready(1)
        await stream(gw, 1, 20)  # the buffer keeps 17..20
        await gw.until(lambda: len(anchor.offsets()) == 20)
        calls = gw.log.replay_calls
        socket = await gw.ready(1, 2, resume_from=1)
        await gw.until(lambda: len(socket.offsets()) == 19)
        await stream(gw, 1, 1)
        await gw.until(lambda: len(socket.offsets()) == 20)
        assert socket.offsets() == list(range(2, 22))
        # 2..16 from the API in pages of 3 (5 pages), 17..20 from memory.
        assert gw.log.replay_calls == calls + 5


async def test_a_buffer_bounded_in_bytes_sends_older_resumes_to_the_api(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        gw.log.commit(1, 10)
        size = len(gw.log.events[1][0])
    # Payloads of one account's events are all this size (same content, same width offsets).
    async with running(keys, gap_wait_s=0.05, resume_buffer_bytes=3 * size) as gw:
        anchor = await gw.ready(1)
        await stream(gw, 1, 8)  # the buffer keeps 6..8
        await gw.until(lambda: len(anchor.offsets()) == 8)
        calls = gw.log.replay_calls
        inside = await gw.ready(1, 2, resume_from=5)
        await gw.until(lambda: len(inside.offsets()) == 3)
        assert gw.log.replay_calls == calls
        outside = await gw.ready(1, 3, resume_from=4)
        await gw.until(lambda: len(outside.offsets()) == 4)
        assert gw.log.replay_calls == calls + 1
        assert outside.offsets() == [5, 6, 7, 8]


async def test_concurrent_resumes_from_the_same_cursor_share_one_replay(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        for _ in range(5):
            gw.log.commit(1, 10)  # before this node knew the account: not in its buffer
        anchor = await gw.ready(1)
        gate = asyncio.Event()
        replay = gw.log.replay

        async def gated(token: str, after: int, limit: int) -> ReplayPage:
            await gate.wait()
            return await replay(token, after, limit)

        gw.log.replay = gated  # type: ignore[method-assign]
        sockets = [gw.connect() for _ in range(10)]
        for index, socket in enumerate(sockets):
            auth: dict[str, Any] = {"type": "auth", "token": gw.keys.token(1, index + 2),
                                    "resume_from": 2}  # fmt: skip
            socket.feed(auth)
        await gw.until(lambda: all(s.of_type("ready") for s in sockets))
        await settle()  # every catch-up reaches its replay
        calls = gw.log.replay_calls
        gate.set()
        await gw.until(lambda: all(len(s.offsets()) == 3 for s in sockets))
        assert gw.log.replay_calls == calls + 1
        assert gw.metric("livedesk_gateway_resume_replay_calls_total") == 1
        await stream(gw, 1, 1)
        await gw.until(lambda: all(len(s.offsets()) == 4 for s in sockets))
        for socket in sockets:
            assert socket.offsets() == [3, 4, 5, 6]
        assert anchor.offsets() == [6]


async def test_a_failed_shared_replay_fails_every_resume_and_the_node_goes_on(
    keys: Keys,
) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        for _ in range(5):
            gw.log.commit(1, 10)
        anchor = await gw.ready(1)
        gw.log.available = False
        resumed = [await gw.ready(1, 2 + index, resume_from=2) for index in range(3)]
        await gw.until(lambda: all(s.closed for s in resumed))
        assert {s.closed[0] for s in resumed if s.closed} == {protocol.CLOSE_TRY_AGAIN_LATER}
        gw.log.available = True
        await stream(gw, 1, 1)
        await gw.until(lambda: anchor.offsets() == [6])
        assert all(s.offsets() == [] for s in resumed)  # nothing after a gap
        again = await gw.ready(1, 9, resume_from=2)
        await gw.until(lambda: again.offsets() == [3, 4, 5, 6])


@pytest.mark.parametrize("before_timeout_s", [0.0, 0.001], ids=["with-it", "just-before"])
async def test_a_socket_whose_offset_comes_as_its_wait_times_out_gets_nothing_twice(
    keys: Keys, before_timeout_s: float, caplog: pytest.LogCaptureFixture
) -> None:
    # A socket resuming from ahead of the node waits for the live stream to reach its cursor
    # (3 x gap_wait_s). Its offset arrives in the loop iteration the wait times out in (a busy
    # node in a reconnect storm: handled before the catch-up resumes), or just before: either
    # way the socket is made live once, by the fan-out or by the catch-up, and is sent
    # nothing twice.
    gap_wait_s = 0.05
    async with running(keys, gap_wait_s=gap_wait_s) as gw:
        anchor = await gw.ready(1)
        gw.log.commit(1, 10)  # seen on another node; reaches this one late
        # Set before the catch-up's own timer, so that at the same time it fires first.
        timeout_at_s = gw.clock.monotonic() + gap_wait_s * 3
        gw.clock.call_at(
            timeout_at_s - before_timeout_s, lambda: asyncio.ensure_future(gw.log.republish(1, 1))
        )
        socket = await gw.ready(1, 2, resume_from=1)  # its catch-up waits for offset 1
        await gw.clock.advance(gap_wait_s * 3)
        await gw.log.post(1, 10)
        await gw.log.post(1, 10)
        await gw.until(lambda: len(anchor.offsets()) == 3)
        await gw.clock.advance(1.0)  # anything sent twice would have been by now
        assert socket.offsets() == [2, 3]
        assert socket.of_type("resync_required") == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_past_the_node_budget_the_least_recent_accounts_resumes_go_to_the_api(
    keys: Keys,
) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        gw.log.commit(1, 10)
        size = len(gw.log.events[1][0])
    # Events of accounts 1 and 2 are all this size (same content, same width offsets).
    async with running(keys, gap_wait_s=0.05, resume_buffers_node_bytes=5 * size) as gw:
        one, two = await gw.ready(1), await gw.ready(2)
        await stream(gw, 1, 4)
        await gw.until(lambda: len(one.offsets()) == 4)
        assert gw.metric("livedesk_gateway_resume_buffer_bytes") == 4 * size
        await stream(gw, 2, 2)  # 6 events' worth: account 1's buffer gives way
        await gw.until(lambda: len(two.offsets()) == 2)
        assert gw.metric("livedesk_gateway_resume_buffer_bytes") == 2 * size
        assert gw.metric("livedesk_gateway_resume_buffer_evictions_total") == 1
        calls = gw.log.replay_calls
        again = await gw.ready(2, 2, resume_from=0)
        await gw.until(lambda: again.offsets() == [1, 2])
        assert gw.log.replay_calls == calls  # still in memory
        resumed = await gw.ready(1, 2, resume_from=2)
        await gw.until(lambda: resumed.offsets() == [3, 4])
        assert gw.log.replay_calls == calls + 1
        assert sources(gw) == (1, 1)
