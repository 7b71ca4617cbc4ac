"""The presence state machine, driven by messages and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livedesk.presence.records import Outgoing
from livedesk.presence.state import STALE_HEARTBEAT, UNKNOWN_NODE, Dropped, PresenceState
from livedesk.shared.events import AgentStatus, AgentStatusChanged, Typing, TypingState
from livedesk.shared.presence_messages import (
    AgentAvailability,
    AvailabilitySet,
    AvailabilitySnapshot,
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    SocketRef,
    TypingSignal,
)
from livedesk.shared.settings import PresenceSettings

INTERVAL = 5.0
TTL = 6.0
GRACE = 10.0
ACCOUNT = 7
CONV = 70
AGENT_STATUS = AgentStatus


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Presence:
    """The state under test, with gateway-like helpers and a clock to move."""

    def __init__(self, *, grace: float = GRACE) -> None:
        self.clock = FakeClock()
        settings = PresenceSettings(
            typing_ttl_s=TTL, offline_grace_s=grace, missed_heartbeats=3, warmup_heartbeats=1.5
        )
        self.state = PresenceState(settings, self.clock, assumed_interval_s=INTERVAL)
        self.state.start_feed()
        self.seq: dict[str, int] = {}
        self.sockets: dict[str, dict[str, int]] = {}  # what each simulated node holds
        self.sent_at = datetime(2025, 1, 1, tzinfo=UTC)

    def stamp(self) -> datetime:
        self.sent_at += timedelta(seconds=1)
        return self.sent_at

    def heartbeat(
        self, node: str, *sockets: tuple[str, int], epoch: str = "e1", seq: int | None = None
    ) -> list[Outgoing]:
        self.seq[node] = self.seq.get(node, 0) + 1 if seq is None else seq
        self.sockets[node] = dict(sockets)
        beat = NodeHeartbeat(
            node=node,
            sent_at=self.stamp(),
            seq=self.seq[node],
            epoch=epoch,
            interval_s=INTERVAL,
            sockets=tuple(ref(s, u) for s, u in sockets),
        )
        return self.state.handle(beat)

    def open(self, node: str, socket: str, user: int, account: int = ACCOUNT) -> list[Outgoing]:
        if account == ACCOUNT:
            self.sockets.setdefault(node, {})[socket] = user
        message = ConnectionOpened(
            node=node, sent_at=self.stamp(), socket=ref(socket, user, account)
        )
        return self.state.handle(message)

    def close(self, node: str, socket: str, user: int) -> list[Outgoing]:
        self.sockets.get(node, {}).pop(socket, None)
        message = ConnectionClosed(node=node, sent_at=self.stamp(), socket=ref(socket, user))
        return self.state.handle(message)

    def typing(
        self, node: str, socket: str, user: int, state: TypingState, conv: int = CONV
    ) -> list[Outgoing]:
        message = TypingSignal(
            node=node,
            sent_at=self.stamp(),
            socket=ref(socket, user),
            conversation_id=conv,
            state=state,
        )
        return self.state.handle(message)

    def advance(self, seconds: float) -> list[Outgoing]:
        self.clock.now += seconds
        return self.state.tick()

    def run(
        self, seconds: float, *, beating: tuple[str, ...] = (), step: float = 1.0
    ) -> list[Outgoing]:
        """Let time pass in steps, ticking, while `beating` nodes send their snapshots."""
        out: list[Outgoing] = []
        elapsed = 0.0
        while elapsed < seconds:
            for node in beating:
                if elapsed % INTERVAL < step:
                    out += self.heartbeat(node, *self.sockets.get(node, {}).items())
            out += self.advance(step)
            elapsed += step
        return out

    def warmed(self) -> Presence:
        """Past warm-up, as a replica that has been running for a while."""
        self.heartbeat("gw-a")
        self.heartbeat("gw-b")
        self.run(2 * INTERVAL, beating=("gw-a", "gw-b"))
        assert not self.state.warming
        assert self.state.built
        return self


def ref(socket: str, user: int, account: int = ACCOUNT) -> SocketRef:
    return SocketRef(socket_id=socket, account_id=account, user_id=user)


def status(user: int, value: AgentStatus, account: int = ACCOUNT) -> AgentStatusChanged:
    return AgentStatusChanged(account_id=account, user_id=user, status=value)


def typing(user: int, state: TypingState, conv: int = CONV) -> Typing:
    return Typing(account_id=ACCOUNT, conversation_id=conv, user_id=user, state=state)


ONLINE, OFFLINE = AgentStatus.ONLINE, AgentStatus.OFFLINE
START, STOP = TypingState.START, TypingState.STOP


def test_two_tabs_count_once_and_closing_one_keeps_the_agent_online() -> None:
    p = Presence().warmed()
    assert p.open("gw-a", "tab1", 1) == [status(1, ONLINE)]
    assert p.open("gw-a", "tab2", 1) == []
    assert p.close("gw-a", "tab1", 1) == []
    assert p.run(3 * GRACE, beating=("gw-a", "gw-b")) == []
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE}


def test_two_devices_on_two_nodes_count_once() -> None:
    p = Presence().warmed()
    assert p.open("gw-a", "laptop", 1) == [status(1, ONLINE)]
    assert p.open("gw-b", "phone", 1) == []
    assert p.close("gw-b", "phone", 1) == []
    assert p.run(2 * GRACE, beating=("gw-a", "gw-b")) == []
    assert p.close("gw-a", "laptop", 1) == []
    assert p.run(2 * GRACE, beating=("gw-a", "gw-b")) == [status(1, OFFLINE)]
    assert p.state.agents_of(ACCOUNT) == {}


def test_offline_waits_for_the_grace_period_and_is_announced_once() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.close("gw-a", "s1", 1)
    assert p.advance(GRACE - 0.5) == []
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE}  # still announced online during grace
    assert p.advance(1.0) == [status(1, OFFLINE)]
    assert p.run(3 * GRACE, beating=("gw-a", "gw-b")) == []
    assert p.close("gw-a", "s1", 1) == []  # a repeated close changes nothing


def test_a_reconnect_within_the_grace_period_announces_nothing() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.close("gw-a", "s1", 1)
    p.advance(GRACE / 2)
    assert p.open("gw-b", "s2", 1) == []  # came back on another node
    assert p.run(3 * GRACE, beating=("gw-a", "gw-b")) == []
    assert p.state.stats.transitions == {"online": 1}


def test_a_silent_node_dies_after_three_heartbeats_and_its_sockets_go() -> None:
    p = Presence().warmed()
    p.open("gw-a", "a1", 1)  # user 1 only on gw-a
    p.open("gw-a", "a2", 2)  # user 2 on both nodes
    p.open("gw-b", "b2", 2)
    p.heartbeat("gw-a", ("a1", 1), ("a2", 2))  # gw-a's last word
    events = p.run(3 * INTERVAL - 1, beating=("gw-b",))
    assert events == []
    assert "gw-a" in p.state.node_ages()
    events = p.run(2, beating=("gw-b",))  # now silent for more than 3 intervals
    assert events == []  # dead, but user 1 is in the grace period
    assert "gw-a" not in p.state.node_ages()
    assert p.state.stats.node_deaths == 1
    assert p.state.socket_count == 1
    assert p.run(GRACE + 1, beating=("gw-b",)) == [status(1, OFFLINE)]
    assert p.state.agents_of(ACCOUNT) == {2: ONLINE}


def test_typing_ends_with_one_stop_at_expiry() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    assert p.typing("gw-a", "s1", 1, START) == [typing(1, START)]
    assert p.state.typers(ACCOUNT, CONV) == [1]
    assert p.advance(TTL - 0.5) == []
    assert p.advance(1.0) == [typing(1, STOP)]
    assert p.run(2 * TTL, beating=("gw-a", "gw-b")) == []
    assert p.state.typers(ACCOUNT, CONV) == []
    assert p.state.stats.expiry_lag_max_s == pytest.approx(0.5)


def test_repeated_starts_refresh_without_a_new_broadcast() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    assert p.typing("gw-a", "s1", 1, START) == [typing(1, START)]
    p.advance(TTL - 2)
    assert p.typing("gw-a", "s1", 1, START) == []
    assert p.advance(3) == []  # past the first deadline, within the refreshed one
    assert p.state.typers(ACCOUNT, CONV) == [1]
    assert p.advance(TTL) == [typing(1, STOP)]
    assert p.state.stats.typing_starts == 1


def test_typing_stop_ends_it_once() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.typing("gw-a", "s1", 1, START)
    assert p.typing("gw-a", "s1", 1, STOP) == [typing(1, STOP)]
    assert p.typing("gw-a", "s1", 1, STOP) == []
    assert p.run(2 * TTL, beating=("gw-a", "gw-b")) == []


def test_typing_stops_when_its_socket_closes() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.open("gw-a", "s2", 1)
    p.typing("gw-a", "s1", 1, START)
    assert p.close("gw-a", "s1", 1) == [typing(1, STOP)]
    assert p.run(2 * TTL, beating=("gw-a", "gw-b")) == []


def test_typing_stops_when_the_socket_vanishes_from_a_snapshot() -> None:
    p = Presence().warmed()
    p.heartbeat("gw-a", ("s1", 1), ("s2", 2))
    p.typing("gw-a", "s1", 1, START)
    assert p.heartbeat("gw-a", ("s2", 2)) == [typing(1, STOP)]


def test_typing_stops_when_its_node_dies() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.open("gw-b", "s2", 1)
    p.typing("gw-a", "s1", 1, START, conv=71)
    p.typing("gw-a", "s1", 1, START, conv=72)
    events = p.run(3 * INTERVAL + 1, beating=("gw-b",), step=0.5)
    assert sorted(e.conversation_id for e in events if isinstance(e, Typing)) == [71, 72]
    assert all(isinstance(e, Typing) and e.state is STOP for e in events)
    assert p.state.typing_of(ACCOUNT) == {}


def test_the_snapshot_corrects_a_lost_open_and_a_lost_close() -> None:
    p = Presence().warmed()
    assert p.heartbeat("gw-a", ("s1", 1)) == [status(1, ONLINE)]  # its open was lost
    assert p.heartbeat("gw-a") == []  # its close was lost
    assert p.advance(GRACE + 0.1) == [status(1, OFFLINE)]


def test_warm_up_of_a_fresh_replica_announces_no_false_offline() -> None:
    # A fresh replica (a restarted one, or the only one): gw-b has not been heard yet.
    p = Presence(grace=0.0)
    assert p.heartbeat("gw-a", ("a1", 1), ("a3", 3)) == []  # rebuilt silently
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE, 3: ONLINE}
    assert p.state.warming
    assert p.close("gw-b", "b9", 9) == []  # a node not heard yet is no error in warm-up
    assert p.close("gw-a", "a3", 3) == []  # user 3 really leaves during warm-up
    assert p.advance(INTERVAL - 0.5) == []
    assert p.heartbeat("gw-b", ("b2", 2)) == []  # gw-b's first snapshot: user 2, silently
    assert p.advance(2.9) == []  # 7.4 s after its feed started: still warming
    assert not p.state.built
    assert p.advance(0.2) == [status(3, OFFLINE)]  # only once warm-up (1.5 intervals) is over
    assert not p.state.warming
    assert p.state.built
    assert p.run(4 * INTERVAL, beating=("gw-a", "gw-b")) == []
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE, 2: ONLINE}


def test_warm_up_still_announces_a_new_connection() -> None:
    p = Presence()
    p.heartbeat("gw-a")
    assert p.open("gw-a", "s1", 1) == [status(1, ONLINE)]


def test_a_stop_for_a_start_the_previous_replica_saw_is_broadcast() -> None:
    p = Presence()
    p.heartbeat("gw-a", ("s1", 1))
    assert p.typing("gw-a", "s1", 1, STOP) == [typing(1, STOP)]
    p.run(2 * TTL, beating=("gw-a",))
    assert p.typing("gw-a", "s1", 1, STOP) == []  # later, a stop of nothing is silence


def test_stale_heartbeats_are_refused() -> None:
    p = Presence().warmed()
    p.heartbeat("gw-a", ("s1", 1), seq=10)
    with pytest.raises(Dropped) as lower:
        p.heartbeat("gw-a", seq=9)
    assert lower.value.reason == STALE_HEARTBEAT
    with pytest.raises(Dropped):
        p.heartbeat("gw-a", seq=10)  # a duplicate
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE}
    # A restart starts a new epoch whose seq begins again; the old run's stragglers are stale.
    assert p.heartbeat("gw-a", ("s9", 2), epoch="e2", seq=1) == [status(2, ONLINE)]
    with pytest.raises(Dropped):
        p.heartbeat("gw-a", ("s1", 1), epoch="e1", seq=11)
    assert p.state.socket_count == 1


def test_messages_from_an_unknown_node_are_refused_after_warm_up() -> None:
    p = Presence().warmed()
    with pytest.raises(Dropped) as closed:
        p.close("gw-zombie", "s1", 1)
    assert closed.value.reason == UNKNOWN_NODE
    with pytest.raises(Dropped):
        p.typing("gw-zombie", "s1", 1, START)
    assert p.state.typing_of(ACCOUNT) == {}
    assert p.open("gw-new", "s1", 1) == [status(1, ONLINE)]  # a new node announces itself


def test_availability_applies_while_online_and_offline_wins_without_socket() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    busy = AgentAvailability(account_id=ACCOUNT, user_id=1, availability=AgentStatus.BUSY)
    assert p.state.handle(AvailabilitySet(node="api", sent_at=p.stamp(), agent=busy)) == [
        status(1, AgentStatus.BUSY)
    ]
    p.close("gw-a", "s1", 1)
    assert p.advance(GRACE + 1) == [status(1, OFFLINE)]
    assert p.open("gw-a", "s2", 1) == [status(1, AgentStatus.BUSY)]
    # A snapshot without the agent means online again...
    assert p.state.handle(AvailabilitySnapshot(node="api", sent_at=p.stamp(), agents=())) == [
        status(1, ONLINE)
    ]
    # ...but one taken before a later change does not undo it.
    away = AgentAvailability(account_id=ACCOUNT, user_id=1, availability=AgentStatus.AWAY)
    old = p.stamp()
    p.state.handle(AvailabilitySet(node="api", sent_at=p.stamp(), agent=away))
    assert p.state.handle(AvailabilitySnapshot(node="api", sent_at=old, agents=())) == []
    assert p.state.agents_of(ACCOUNT) == {1: AgentStatus.AWAY}


def test_views_are_scoped_by_account() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.open("gw-a", "s2", 2, account=8)
    p.typing("gw-a", "s1", 1, START)
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE}
    assert p.state.agents_of(8) == {2: ONLINE}
    assert p.state.typing_of(ACCOUNT) == {CONV: [1]}
    assert p.state.typing_of(8) == {}
    assert p.state.typers(8, CONV) == []


def test_a_restarted_feed_warms_up_again_and_stays_built() -> None:
    p = Presence().warmed()
    p.open("gw-a", "s1", 1)
    p.open("gw-a", "s2", 2)
    p.state.restart_feed()  # reconnected: what nodes sent meanwhile is lost
    assert p.state.warming
    assert p.state.built  # reads keep answering from the agents it knew
    assert p.state.agents_of(ACCOUNT) == {1: ONLINE, 2: ONLINE}
    # gw-a's snapshot has only user 1; user 2 left meanwhile.
    assert p.heartbeat("gw-a", ("s1", 1)) == []
    assert p.advance(INTERVAL) == []  # still warming
    assert p.advance(INTERVAL) == [status(2, OFFLINE)]


def test_a_replica_never_fed_decides_nothing_and_is_not_built() -> None:
    clock = FakeClock()
    state = PresenceState(PresenceSettings(), clock, assumed_interval_s=INTERVAL)
    clock.now += 100 * INTERVAL
    assert state.tick() == []
    assert state.warming
    assert not state.built


def test_many_offline_transitions_are_spread_over_ticks() -> None:
    p = Presence(grace=1.0).warmed()
    p.heartbeat("gw-a", *((f"s{u}", u) for u in range(1, 26)))
    p.heartbeat("gw-a")  # all 25 gone at once
    p.clock.now += 2.0
    batches = [len(p.state.tick(max_offline=10)) for _ in range(4)]
    assert batches == [10, 10, 5, 0]
    assert p.state.agents_of(ACCOUNT) == {}


def test_a_snapshot_applied_in_slices_ends_like_one_applied_at_once() -> None:
    p = Presence().warmed()
    p.heartbeat("gw-a", ("old1", 1), ("old2", 2), ("keep", 3))
    beat = NodeHeartbeat(
        node="gw-a",
        sent_at=p.stamp(),
        seq=p.seq["gw-a"] + 1,
        epoch="e1",
        interval_s=INTERVAL,
        sockets=(),
    )
    applying = p.state.begin_snapshot(beat)
    out = p.state.feed_snapshot(applying, [("keep", ACCOUNT, 3), ("new4", ACCOUNT, 4)])
    out += p.state.feed_snapshot(applying, [("new5", ACCOUNT, 5)])
    assert p.state.socket_count == 5  # nothing removed before the end
    while not applying.done:
        out += p.state.finish_snapshot(applying, max_sockets=1)
    assert out == [status(4, ONLINE), status(5, ONLINE)]
    assert p.state.socket_count == 3
    offline = sorted(p.advance(GRACE + 0.1), key=lambda e: e.user_id)
    assert offline == [status(1, OFFLINE), status(2, OFFLINE)]
