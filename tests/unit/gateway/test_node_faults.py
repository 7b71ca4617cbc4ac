"""What goes wrong for one socket stays with that socket: bad frames, failures, odd resumes."""

from __future__ import annotations

import logging

import pytest

from livedesk.gateway import protocol
from livedesk.shared.events import AgentStatus
from tests.support.gateway import FakeSocket, Keys
from tests.unit.gateway.harness import Harness, running


async def test_a_frame_nested_thousands_deep_gets_an_error_and_the_socket_stays(
    keys: Keys,
) -> None:
    async with running(keys) as gw:
        socket = await gw.ready(1)
        nested = b"[" * 5_000 + b"]" * 5_000  # 10 KB: well under the frame size limit
        socket.feed(b'{"type":"ping","ref":' + nested + b"}")
        socket.feed(nested)
        socket.feed({"type": "ping", "ref": "after"})
        await gw.until(lambda: socket.of_type("pong") or socket.closed)
        assert [e["code"] for e in socket.of_type("error")] == [protocol.ERR_INVALID] * 2
        assert socket.of_type("pong") == [{"type": "pong", "offset": 0, "ref": "after"}]
        assert socket.closed is None


async def test_nested_frames_again_and_again_close_with_4429(keys: Keys) -> None:
    async with running(keys) as gw:
        socket = await gw.ready(1)
        for _ in range(50):
            socket.feed(b"[" * 5_000 + b"]" * 5_000)
        await gw.until(lambda: socket.closed)
        assert socket.closed == (protocol.CLOSE_RATE_LIMITED, "too many bad frames")


async def test_a_failure_in_one_sockets_background_work_closes_that_socket_alone(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(keys) as gw:
        others = [await gw.ready(1, 1), await gw.ready(2, 2)]
        lookup = gw.presence.presence_state

        async def broken(token: str) -> dict[int, AgentStatus] | None:
            if gw.log.account_of(token) == 3:
                raise RuntimeError("injected failure")
            return await lookup(token)

        gw.presence.presence_state = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR):
            failing = await gw.ready(3, 7)
            await gw.until(lambda: failing.closed)
        assert failing.closed == (protocol.CLOSE_INTERNAL_ERROR, "internal error")
        await assert_still_served(gw, others)
        assert_logged_once(caplog, "account 3", "gw-test", failing.socket_id)


async def test_a_failure_while_handling_a_frame_closes_that_socket_alone(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(keys) as gw:
        gw.log.conversation(3, 30)
        others = [await gw.ready(1, 1), await gw.ready(3, 2)]

        async def broken(token: str, conversation_id: int) -> list[int]:
            raise RuntimeError("injected failure")

        gw.presence.typers = broken  # type: ignore[method-assign]
        failing = await gw.ready(3, 7)
        with caplog.at_level(logging.ERROR):
            failing.feed({"type": "subscribe", "conversation_id": 30})
            await gw.until(lambda: failing.closed)
        assert failing.closed == (protocol.CLOSE_INTERNAL_ERROR, "internal error")
        await assert_still_served(gw, others)
        assert_logged_once(caplog, "account 3", "gw-test", failing.socket_id)


async def test_a_resume_ahead_of_the_node_answered_410_gets_resync_and_the_node_goes_on(
    keys: Keys,
) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        others = [await gw.ready(1, 1), await gw.ready(2, 2)]
        for _ in range(10):
            gw.log.commit(1, 10)  # seen on another node; their publishes never reach this one
        gw.log.retained_from[1] = 6  # and 1..5 are no longer kept
        ahead = await gw.ready(1, 3, resume_from=10)
        await gw.until(lambda: ahead.of_type("resync_required") or ahead.closed)
        assert ahead.closed is None
        assert ahead.of_type("resync_required")[0]["offset"] == 0  # this node's offset
        await gw.log.post(2, 20)
        await gw.until(lambda: others[1].offsets() == [1])
        await gw.log.post(1, 10)  # 11: the node's own gap before it is past retention too
        await gw.until(lambda: others[0].offsets() == [11] and ahead.offsets() == [11])
        assert all(s.closed is None for s in others)


async def test_a_resume_far_beyond_the_latest_offset_gets_resync_not_1013(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        gw.log.commit(1, 10)
        socket = await gw.ready(1, resume_from=5_000)  # more than a replay page ahead
        await gw.until(lambda: socket.of_type("resync_required") or socket.closed)
        assert socket.closed is None
        assert socket.of_type("resync_required")[0]["offset"] == 1
        await gw.log.post(1, 10)
        await gw.until(lambda: socket.offsets() == [2])


@pytest.mark.parametrize("ahead_by", [3, 11])
async def test_a_client_ahead_of_the_nodes_stream_resumes_where_it_is(
    keys: Keys, ahead_by: int
) -> None:
    # Ahead by less than one replay page, and by several: the node fetches what its own
    # stream lacks (it never comes from the broker here), and the client joins there.
    async with running(keys, gap_wait_s=0.05, replay_page_size=4) as gw:
        anchor = await gw.ready(1)
        for _ in range(ahead_by):
            gw.log.commit(1, 10)
        socket = await gw.ready(1, 2, resume_from=ahead_by)
        await gw.until(lambda: len(anchor.offsets()) == ahead_by)
        await gw.log.post(1, 10)
        await gw.until(lambda: socket.offsets() == [ahead_by + 1])
        assert anchor.offsets() == list(range(1, ahead_by + 2))
        assert socket.of_type("resync_required") == []
        assert socket.closed is None


async def assert_still_served(gw: Harness, sockets: list[FakeSocket]) -> None:
    """Each socket (one per account, none of them has events yet) gets the next event."""
    for socket in sockets:
        account_id = socket.of_type("ready")[0]["account_id"]
        await gw.log.post(account_id, 10)
    await gw.until(lambda: all(s.offsets() == [1] for s in sockets))
    assert all(s.closed is None for s in sockets)


def assert_logged_once(caplog: pytest.LogCaptureFixture, *words: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert all(word in message for word in words), message
    assert errors[0].exc_info is not None  # with its stack trace
