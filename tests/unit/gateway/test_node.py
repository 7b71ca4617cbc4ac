"""A whole node on the memory bus: frames, fan-out, tenancy, ordering, resume, limits, drain."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest

from livedesk.gateway import protocol
from livedesk.gateway.sweeper import PINGS_PER_TURN
from livedesk.shared import routing
from livedesk.shared.bus.base import Message, Subscription
from livedesk.shared.bus.memory import MemorySubscription
from livedesk.shared.presence_messages import (
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    TypingSignal,
    decode_message,
)
from livedesk.shared.topology import PRESENCE_IN, QueueSpec
from tests.support.gateway import Keys, status_message, typing_message
from tests.unit.gateway.harness import Harness, running


@pytest.fixture
async def gw(keys: Keys) -> AsyncIterator[Harness]:
    async with running(keys, gap_wait_s=0.05) as harness:
        yield harness


M = TypeVar("M")


async def next_of(gw: Harness, presence: Subscription, kind: type[M], accept: Any = None) -> M:
    """The next presence message of `kind` (that `accept` accepts), bounded in time."""

    async def first() -> M:
        async for delivery in presence:
            message = decode_message(delivery.body)
            if isinstance(message, kind) and (accept is None or accept(message)):
                return message
        raise AssertionError("unreachable: the subscription does not end")

    found = asyncio.ensure_future(first())
    try:
        await gw.until(found.done)
    finally:
        found.cancel()
    return found.result()


async def test_auth_gets_ready_presence_state_and_tells_presence(gw: Harness) -> None:
    spec = QueueSpec("presence-test", False, True, True, bindings=((PRESENCE_IN, "#"),))
    async with gw.bus.subscribe(spec) as presence:
        gw.presence.agents = {}
        socket = await gw.ready(account_id=5, user_id=9)
        ready = socket.of_type("ready")[0]
        assert ready == {"type": "ready", "node": "gw-test", "account_id": 5, "user_id": 9,
                         "offset": 0, "typing_interval_s": 3.0}  # fmt: skip
        await gw.until(lambda: socket.of_type("presence_state"))
        opened = await next_of(gw, presence, ConnectionOpened)
        assert (opened.socket.account_id, opened.socket.user_id) == (5, 9)
        assert opened.socket.socket_id == socket.socket_id
        await socket.close(1000, "bye")
        closed = await next_of(gw, presence, ConnectionClosed)
        assert closed.socket.socket_id == socket.socket_id


async def test_persistent_events_reach_every_socket_of_the_account_as_the_same_bytes(
    gw: Harness,
) -> None:
    first, second = await gw.ready(1, 1), await gw.ready(1, 2)
    other = await gw.ready(2, 3)
    for _ in range(3):
        await gw.log.post(1, gw.log.conversation(1, 10))
    await gw.until(lambda: len(first.offsets()) == 3 and len(second.offsets()) == 3)
    assert first.offsets() == [1, 2, 3]
    events = [raw for raw in first.sent if b'"new_message"' in raw]
    others = [raw for raw in second.sent if b'"new_message"' in raw]
    assert all(a is b for a, b in zip(events, others, strict=True))  # encoded once
    assert events == gw.log.events[1]  # byte for byte what the API committed
    assert other.offsets() == []


async def test_typing_reaches_only_that_conversations_subscribers(gw: Harness) -> None:
    gw.log.conversation(1, 10)
    gw.log.conversation(1, 11)
    reader, elsewhere = await gw.ready(1, 1), await gw.ready(1, 2)
    reader.feed({"type": "subscribe", "conversation_id": 10, "ref": "s"})
    elsewhere.feed({"type": "subscribe", "conversation_id": 11})
    await gw.until(lambda: reader.of_type("subscribed") and elsewhere.of_type("subscribed"))
    assert reader.of_type("subscribed")[0] == {
        "type": "subscribed", "conversation_id": 10, "typing": [], "ref": "s",
    }  # fmt: skip
    await gw.bus.publish(typing_message(1, 10, user_id=7))
    await gw.bus.publish(status_message(1, user_id=7))
    await gw.until(lambda: reader.of_type("agent_status") and elsewhere.of_type("agent_status"))
    assert [t["user_id"] for t in reader.of_type("typing")] == [7]
    assert elsewhere.of_type("typing") == []


async def test_an_ephemeral_event_whose_key_names_another_subject_is_dropped(gw: Harness) -> None:
    gw.log.conversation(1, 10)
    gw.log.conversation(1, 11)
    reader, elsewhere = await gw.ready(1, 1), await gw.ready(1, 2)
    reader.feed({"type": "subscribe", "conversation_id": 10})
    elsewhere.feed({"type": "subscribe", "conversation_id": 11})
    await gw.until(lambda: reader.of_type("subscribed") and elsewhere.of_type("subscribed"))
    typing = typing_message(1, 10, user_id=7)
    misrouted = routing.conversation_key(1, 11, "typing")
    await gw.bus.publish(Message(typing.exchange, misrouted, typing.body, persistent=False))
    await gw.bus.publish(status_message(1, user_id=7))  # after it, on the same path
    await gw.until(lambda: reader.of_type("agent_status") and elsewhere.of_type("agent_status"))
    assert reader.of_type("typing") == []
    assert elsewhere.of_type("typing") == [], "delivered by its routing key's conversation"


async def test_subscribed_carries_current_typers(gw: Harness) -> None:
    gw.log.conversation(1, 10)
    gw.presence.typing[10] = [4, 5]
    socket = await gw.ready(1)
    socket.feed({"type": "subscribe", "conversation_id": 10})
    await gw.until(lambda: socket.of_type("subscribed"))
    assert socket.of_type("subscribed")[0]["typing"] == [4, 5]


async def test_another_accounts_conversation_is_refused_and_nothing_of_it_arrives(
    gw: Harness,
) -> None:
    theirs = gw.log.conversation(2, 20)
    mine = await gw.ready(1)
    mine.feed({"type": "subscribe", "conversation_id": theirs, "ref": "x"})
    await gw.until(lambda: mine.of_type("error"))
    assert mine.of_type("error")[0]["code"] == protocol.ERR_FORBIDDEN
    assert mine.of_type("error")[0]["ref"] == "x"
    mine.feed({"type": "typing", "conversation_id": theirs, "state": "start"})
    await gw.until(lambda: len(mine.of_type("error")) == 2)
    assert mine.of_type("error")[1]["code"] == protocol.ERR_NOT_SUBSCRIBED
    await gw.log.post(2, theirs)
    await gw.bus.publish(typing_message(2, theirs, user_id=3))
    await gw.bus.publish(status_message(2, user_id=3))
    mine.feed({"type": "ping", "ref": "sync"})
    await gw.until(lambda: mine.of_type("pong"))
    assert [f["type"] for f in mine.frames()] == [
        "ready", "presence_state", "error", "error", "pong",
    ]  # fmt: skip
    # The node never bound account 2: its traffic did not even reach the node queue.
    assert not gw.node.hub.bindings.is_bound(2)
    assert gw.metric("livedesk_gateway_broker_messages_total", kind="persistent") == 0


async def test_probing_closes_with_4403(gw: Harness) -> None:
    for conversation in (20, 21, 22):
        gw.log.conversation(2, conversation)
    socket = await gw.ready(1)
    for conversation in (20, 21, 22):
        socket.feed({"type": "subscribe", "conversation_id": conversation})
    await gw.until(lambda: socket.closed)
    assert socket.closed == (protocol.CLOSE_FORBIDDEN, "repeated forbidden requests")


async def test_first_socket_binds_the_account_and_the_last_unbinds_it(gw: Harness) -> None:
    first = await gw.ready(3, 1)
    second = await gw.ready(3, 2)
    assert gw.node.hub.bindings.is_bound(3)
    assert gw.metric("livedesk_gateway_bind_operations_total", op="bind") == 2  # two exchanges
    await first.close(1000, "")
    await gw.clock.advance(1.0)
    assert gw.node.hub.bindings.is_bound(3)
    await second.close(1000, "")
    await gw.until(lambda: not gw.node.hub.bindings.is_bound(3))
    assert gw.metric("livedesk_gateway_bind_operations_total", op="unbind") == 2
    assert gw.metric("livedesk_gateway_bound_accounts") == 0


async def test_shutdown_does_not_wait_out_the_unbind_grace(keys: Keys) -> None:
    # The grace is 60 s of virtual time, which nothing moves once the body has ended: a node
    # that waited it out would hang there, and the timeout fails the test.
    async with asyncio.timeout(10):
        async with running(keys, unbind_grace_s=60.0) as gw:
            socket = await gw.ready(3, 1)
            await socket.close(1000, "")
            await gw.until(lambda: list(gw.node.hub.bindings.socket_counts()) == [0])
            await gw.clock.advance(1.0)
            assert gw.node.hub.bindings.is_bound(3)  # its grace is running


async def test_concurrent_arrivals_bind_once(gw: Harness) -> None:
    sockets = [gw.connect() for _ in range(20)]
    for index, socket in enumerate(sockets):
        socket.feed({"type": "auth", "token": gw.keys.token(4, index + 1)})
    await gw.until(lambda: all(s.of_type("ready") for s in sockets))
    assert gw.metric("livedesk_gateway_bind_operations_total", op="bind") == 2


async def test_a_duplicate_is_dropped(gw: Harness) -> None:
    socket = await gw.ready(1)
    await gw.log.post(1, 10)
    await gw.log.republish(1, 1)
    await gw.log.post(1, 10)
    await gw.until(lambda: len(socket.offsets()) == 2)
    await gw.until(lambda: gw.metric("livedesk_gateway_duplicates_dropped_total") == 1)
    assert socket.offsets() == [1, 2]


async def test_a_gap_is_filled_from_replay(gw: Harness) -> None:
    socket = await gw.ready(1)
    await gw.log.post(1, 10)
    gw.log.commit(1, 10)  # committed, but its publish was lost
    gw.log.commit(1, 10)
    await gw.log.post(1, 10)
    await gw.until(lambda: len(socket.offsets()) == 4)
    assert socket.offsets() == [1, 2, 3, 4]
    assert gw.metric("livedesk_gateway_gap_filled_events_total") == 2


async def test_resume_serves_what_was_missed_then_the_live_stream(gw: Harness) -> None:
    for _ in range(5):
        gw.log.commit(1, 10)
    await gw.log.post(1, 10)  # 6; no socket yet, so nobody hears it
    socket = await gw.ready(1, resume_from=2)
    await gw.log.post(1, 10)
    await gw.until(lambda: len(socket.offsets()) == 5)
    assert socket.offsets() == [3, 4, 5, 6, 7]
    assert socket.of_type("ready")[0]["offset"] == 6


async def test_resume_while_the_stream_runs_has_no_gap_and_no_duplicate(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05, replay_page_size=7) as gw:
        anchor = await gw.ready(1)  # keeps the account bound from the start
        last = 300

        async def stream() -> None:
            for _ in range(last):
                await gw.log.post(1, 10)
                await asyncio.sleep(0)

        streaming = asyncio.create_task(stream())
        resumed = []
        for point in (0, 10, 50, 120, 200):
            await gw.until(lambda point=point: len(gw.log.events.get(1, [])) >= point)
            resumed.append((point, await gw.ready(1, resume_from=point)))
        await streaming
        await gw.until(lambda: all(len(s.offsets()) == last - p for p, s in resumed))
        for point, socket in resumed:
            assert socket.offsets() == list(range(point + 1, last + 1))
        assert anchor.offsets() == list(range(1, last + 1))


async def test_resume_past_retention_gets_resync_required(gw: Harness) -> None:
    for _ in range(10):
        gw.log.commit(1, 10)
    gw.log.retained_from[1] = 6
    socket = await gw.ready(1, resume_from=2)
    await gw.until(lambda: socket.of_type("resync_required"))
    assert socket.of_type("resync_required")[0]["offset"] == 10
    await gw.log.post(1, 10)
    await gw.until(lambda: socket.offsets() == [11])


async def test_resume_from_beyond_the_latest_offset_gets_resync_required(gw: Harness) -> None:
    gw.log.commit(1, 10)
    socket = await gw.ready(1, resume_from=50)
    await gw.until(lambda: socket.of_type("resync_required"), timeout_s=5)
    await gw.log.post(1, 10)
    await gw.until(lambda: socket.offsets() == [2])


async def test_resume_from_ahead_of_this_node_joins_where_the_client_is(gw: Harness) -> None:
    anchor = await gw.ready(1)
    gw.log.commit(1, 10)
    gw.log.commit(1, 10)  # the client saw these on another node; they reach us late
    socket = await gw.ready(1, resume_from=2)
    await gw.log.republish(1, 1)
    await gw.log.republish(1, 2)
    await gw.log.post(1, 10)
    await gw.until(lambda: socket.offsets() == [3])
    assert anchor.offsets() == [1, 2, 3]


async def test_a_slow_reader_is_closed_with_4409_and_the_others_go_on(keys: Keys) -> None:
    async with running(keys, send_queue_frames=5) as gw:
        slow, fast = await gw.ready(1, 1), await gw.ready(1, 2)
        slow.stalled = 1  # from now on nothing it is sent leaves its buffer
        for _ in range(10):
            await gw.log.post(1, 10)
        await gw.until(lambda: len(fast.offsets()) == 10)
        await gw.until(lambda: slow.closed)
        assert slow.closed == (protocol.CLOSE_TOO_SLOW, "too slow to read")
        assert 0 < len(slow.offsets()) < 5  # 5 frames queued: this one and 4 events
        assert gw.metric("livedesk_gateway_closes_total", code="4409") == 1
        # It resumes from what it had, elsewhere or here, and loses nothing.
        again = await gw.ready(1, 1, resume_from=slow.offsets()[-1])
        await gw.until(lambda: len(slow.offsets()) + len(again.offsets()) == 10)
        assert slow.offsets() + again.offsets() == list(range(1, 11))


async def test_a_stalled_reader_sent_nothing_more_is_closed_by_the_lag_bound(
    keys: Keys,
) -> None:
    async with running(keys, send_queue_max_lag_s=0.2) as gw:
        slow, fast = await gw.ready(1, 1), await gw.ready(1, 2)
        slow.stalled = 1
        await gw.log.post(1, 10)  # admitted (it has not waited yet); then the stream stops
        await gw.until(lambda: fast.offsets() == [1] and slow.offsets() == [1])
        await gw.until(lambda: slow.closed)  # so only the sweeper can close it
        assert slow.closed == (protocol.CLOSE_TOO_SLOW, "too slow to read")
        assert fast.closed is None
        assert gw.metric("livedesk_gateway_closes_total", code="4409") == 1


async def test_the_sweeper_pings_every_socket(gw: Harness) -> None:
    waiting, ready = gw.connect(), await gw.ready(1)
    await gw.until(lambda: waiting.pings >= 2 and ready.pings >= 2)
    assert waiting.closed is None
    assert ready.closed is None


async def test_the_sweeper_lets_the_loop_turn_between_bursts_of_pings(gw: Harness) -> None:
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    sockets = [gw.connect() for _ in range(3 * PINGS_PER_TURN + 1)]
    pinged_at: list[int] = []
    for socket in sockets:
        socket.on_ping = lambda: pinged_at.append(turns)
    counter = asyncio.create_task(count_turns())
    try:
        await gw.until(lambda: all(socket.pings for socket in sockets))
    finally:
        counter.cancel()
    first_sweep = pinged_at[: len(sockets)]
    per_turn = Counter(first_sweep)
    assert max(per_turn.values()) <= PINGS_PER_TURN
    assert len(per_turn) >= 4


async def test_a_peer_deaf_to_pings_is_closed_with_1011(gw: Harness) -> None:
    deaf, other = await gw.ready(1, 1), await gw.ready(1, 2)
    deaf.deaf = True
    await gw.until(lambda: deaf.closed)
    assert deaf.closed == (protocol.CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
    assert other.closed is None
    assert gw.metric("livedesk_gateway_closes_total", code="1011") == 1


async def test_ping_answers_pong_with_the_latest_offset(gw: Harness) -> None:
    socket = await gw.ready(1)
    await gw.log.post(1, 10)
    await gw.log.post(1, 10)
    await gw.until(lambda: len(socket.offsets()) == 2)
    socket.feed({"type": "ping", "ref": 42})
    await gw.until(lambda: socket.of_type("pong"))
    assert socket.of_type("pong")[0] == {"type": "pong", "offset": 2, "ref": 42}


async def test_unsubscribe_stops_typing(gw: Harness) -> None:
    gw.log.conversation(1, 10)
    socket = await gw.ready(1)
    socket.feed({"type": "subscribe", "conversation_id": 10})
    socket.feed({"type": "unsubscribe", "conversation_id": 10, "ref": "u"})
    await gw.until(lambda: socket.of_type("unsubscribed"))
    assert socket.of_type("unsubscribed")[0]["ref"] == "u"
    await gw.bus.publish(typing_message(1, 10, user_id=3))
    socket.feed({"type": "ping"})
    await gw.until(lambda: socket.of_type("pong"))
    assert socket.of_type("typing") == []


async def test_no_auth_in_time_closes_with_4408(keys: Keys) -> None:
    async with running(keys, auth_timeout_s=0.2) as gw:
        socket = gw.connect()
        await gw.until(lambda: socket.closed)
        assert socket.closed is not None
        assert socket.closed[0] == protocol.CLOSE_AUTH_TIMEOUT


async def test_an_expiring_token_closes_the_socket_unless_renewed(gw: Harness) -> None:
    expiring, renewed = gw.connect(), gw.connect()
    for socket in (expiring, renewed):
        socket.feed({"type": "auth", "token": gw.keys.token(1, 1, ttl_s=2)})
    await gw.until(lambda: expiring.of_type("ready") and renewed.of_type("ready"))
    renewed.feed({"type": "auth", "token": gw.keys.token(1, 1, ttl_s=600)})
    await gw.until(lambda: renewed.of_type("auth_renewed"))
    await gw.until(lambda: expiring.closed, timeout_s=5)
    assert expiring.closed is not None
    assert expiring.closed[0] == protocol.CLOSE_UNAUTHENTICATED
    assert expiring.of_type("error")[-1]["code"] == "token_expired"
    assert renewed.closed is None


async def test_a_renewal_to_a_shorter_lived_token_closes_at_its_expiry(gw: Harness) -> None:
    socket = gw.connect()
    socket.feed({"type": "auth", "token": gw.keys.token(1, 1, ttl_s=600)})
    await gw.until(lambda: socket.of_type("ready"))
    socket.feed({"type": "auth", "token": gw.keys.token(1, 1, ttl_s=2)})
    await gw.until(lambda: socket.of_type("auth_renewed"))
    await gw.until(lambda: socket.closed, timeout_s=5)
    assert socket.closed is not None
    assert socket.closed[0] == protocol.CLOSE_UNAUTHENTICATED
    assert socket.of_type("error")[-1]["code"] == "token_expired"


async def test_a_frame_flood_closes_with_4429(gw: Harness) -> None:
    socket = await gw.ready(1)
    for _ in range(200):
        socket.feed({"type": "ping"})
    await gw.until(lambda: socket.closed)
    assert socket.closed is not None
    assert socket.closed[0] == protocol.CLOSE_RATE_LIMITED


async def test_typing_goes_to_presence(gw: Harness) -> None:
    gw.log.conversation(1, 10)
    spec = QueueSpec("presence-test", False, True, True, bindings=((PRESENCE_IN, "#"),))
    async with gw.bus.subscribe(spec) as presence:
        socket = await gw.ready(1, 6)
        socket.feed({"type": "subscribe", "conversation_id": 10})
        socket.feed({"type": "typing", "conversation_id": 10, "state": "start"})
        message = await next_of(gw, presence, TypingSignal)
        assert (message.conversation_id, message.socket.user_id) == (10, 6)
        assert message.state == "start"


async def test_heartbeats_carry_a_snapshot_of_the_sockets(keys: Keys) -> None:
    async with running(keys, heartbeat_interval_s=0.05) as gw:
        spec = QueueSpec("presence-test", False, True, True, bindings=((PRESENCE_IN, "#"),))
        async with gw.bus.subscribe(spec) as presence:
            one, two = await gw.ready(1, 1), await gw.ready(2, 2)
            beat = await next_of(gw, presence, NodeHeartbeat, lambda b: len(b.sockets) == 2)
            assert {s.socket_id for s in beat.sockets} == {one.socket_id, two.socket_id}
            assert beat.interval_s == 0.05


async def test_drain_hints_reconnect_then_closes_with_1001(gw: Harness) -> None:
    sockets = [await gw.ready(1, n) for n in range(1, 6)]
    started = gw.clock.monotonic()
    draining = asyncio.ensure_future(gw.node.drain(0.1))
    await gw.until(draining.done)
    draining.result()
    assert gw.clock.monotonic() - started >= 0.1  # the window is spent, not skipped
    for socket in sockets:
        assert socket.of_type("reconnect")
        assert socket.closed is not None
        assert socket.closed[0] == protocol.CLOSE_GOING_AWAY
    late = gw.connect()
    await gw.until(lambda: late.closed)
    assert late.closed is not None
    assert late.closed[0] == protocol.CLOSE_GOING_AWAY


async def test_after_a_broker_reconnect_bound_accounts_catch_up(gw: Harness) -> None:
    socket = await gw.ready(1)
    await gw.log.post(1, 10)
    gw.log.commit(1, 10)  # published while the node's queue was gone
    gw.log.commit(1, 10)
    await gw.node.hub.gap_fill.restore()
    await gw.until(lambda: len(socket.offsets()) == 3)
    assert socket.offsets() == [1, 2, 3]


async def test_a_reconnect_during_a_gap_fill_still_catches_up_to_the_latest(
    gw: Harness,
) -> None:
    socket = await gw.ready(1)
    gw.log.delay_s = 0.2
    await gw.log.post(1, 10)
    gw.log.commit(1, 10)
    await gw.log.post(1, 10)  # 3 arrives: a gap fill for 2 starts and takes a while
    await gw.until(lambda: gw.log.replay_calls >= 2)  # the baseline, then the gap fill
    gw.log.commit(1, 10)  # 4 is lost in a broker outage during that fill
    await gw.node.hub.gap_fill.restore()
    await gw.until(lambda: len(socket.offsets()) == 4)
    assert socket.offsets() == [1, 2, 3, 4]


async def test_an_unavailable_api_closes_a_new_account_with_1013(gw: Harness) -> None:
    gw.log.available = False
    socket = await gw.ready(1)
    await gw.until(lambda: socket.closed)
    assert socket.closed is not None
    assert socket.closed[0] == protocol.CLOSE_TRY_AGAIN_LATER
    assert socket.of_type("error")[0]["code"] == protocol.ERR_UNAVAILABLE


async def test_an_unbind_the_bus_fails_is_tried_again(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [ConnectionError("broker gone")]
    unbind = MemorySubscription.unbind

    async def flaky(self: MemorySubscription, exchange: str, pattern: str) -> None:
        if failures:
            raise failures.pop()
        await unbind(self, exchange, pattern)

    monkeypatch.setattr(MemorySubscription, "unbind", flaky)
    async with running(keys) as gw:
        socket = await gw.ready(3, 1)
        await socket.close(1000, "")
        await gw.until(lambda: not failures)  # the first try failed
        await gw.until(
            lambda: gw.metric("livedesk_gateway_bind_operations_total", op="unbind") == 2
        )
        assert gw.node.hub.bindings.latest(3) is None  # forgotten once unbound
        assert gw.metric("livedesk_gateway_bound_accounts") == 0


async def test_an_arrival_after_a_failed_unbind_binds_again(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [ConnectionError("broker gone")]
    unbind = MemorySubscription.unbind

    async def flaky(self: MemorySubscription, exchange: str, pattern: str) -> None:
        await unbind(self, exchange, pattern)  # the first exchange is unbound, then it fails
        if failures:
            raise failures.pop()

    monkeypatch.setattr(MemorySubscription, "unbind", flaky)
    async with running(keys) as gw:
        first = await gw.ready(3, 1)
        await first.close(1000, "")
        await gw.until(lambda: not failures)
        second = await gw.ready(3, 2)
        assert gw.metric("livedesk_gateway_bind_operations_total", op="bind") == 4
        await gw.log.post(3, 1)  # persistent events reach it: livedesk.events is bound again
        await gw.until(lambda: second.offsets() == [1])
