"""Presence as a pure state machine: decoded messages and clock ticks in, events to publish out.

It holds the gateway nodes and their sockets, the agents with the status last announced, their
availability (`availability.py`) and who is typing (`typing_indicators.py`). Rules:

- an agent is online while any socket of theirs is open on a live node (tabs count once);
  `busy`/`away` apply while online; with no socket the status is `offline`, announced only
  after `offline_grace_s` without a socket, so a quick reconnect causes no flapping;
- a heartbeat is a node's full snapshot: it corrects lost opens and closes; a lower or equal
  `seq` in the same epoch, or an epoch the node has left, is stale and refused;
- a node silent for `missed_heartbeats` of its own intervals is dead and its sockets dropped;
- typing (`typing_indicators.py`) also ends when the sockets that fed it close or their node
  dies;
- warm-up: a replica whose feed has just started (its own queue consumed since start or since
  a reconnect, `start_feed`, `restart_feed`) rebuilds from snapshots without announcing them,
  and announces no offline until a full heartbeat round has passed, because "not heard yet" is
  not "gone"; once the first warm-up is over the state is `built` (the replica is ready).

Every replica runs this machine on the same messages; whether what it returns is published
is not decided here (`publishing.Announcer`).

Time comes from an injected clock. It does no I/O, decoding or logging: the consumer feeds it,
the ticker calls `tick`, and both publish what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from livedesk.presence.availability import AgentKey, AvailabilityBook
from livedesk.presence.records import (
    Agent,
    AgentDirectory,
    Clock,
    Node,
    Outgoing,
    SnapshotApply,
    SocketTuple,
    Stats,
)
from livedesk.presence.typing_indicators import TypingIndicators, typing_event
from livedesk.shared.deadlines import Deadlines
from livedesk.shared.errors import LivedeskError
from livedesk.shared.events import AgentStatus, AgentStatusChanged, TypingState
from livedesk.shared.presence_messages import (
    AvailabilitySet,
    AvailabilitySnapshot,
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    PresenceMessage,
    TypingSignal,
)
from livedesk.shared.settings import PresenceSettings

UNKNOWN_NODE: Final = "unknown_node"
STALE_HEARTBEAT: Final = "stale_heartbeat"


class Dropped(LivedeskError):
    """A well-formed message that must not change state; `reason` is a stable label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class PresenceState:
    def __init__(
        self, settings: PresenceSettings, clock: Clock, *, assumed_interval_s: float
    ) -> None:
        self._settings = settings
        self._clock = clock
        # The interval of a node we have not heard a heartbeat from yet (the gateways' setting).
        self._assumed_interval_s = assumed_interval_s
        self._nodes: dict[str, Node] = {}
        self._agents = AgentDirectory()
        self._availability = AvailabilityBook()
        self._offline_due: Deadlines[Agent] = Deadlines()
        self._fed_since: float | None = None
        self._built = False
        self._online = 0
        self._socket_count = 0
        self.stats = Stats()
        self._typing = TypingIndicators(settings.typing_ttl_s, self._nodes, self.stats)

    # -- input -------------------------------------------------------------------------------

    def handle(self, message: PresenceMessage) -> list[Outgoing]:
        """Apply one message; return the events to publish. Raise `Dropped` to refuse it."""
        if isinstance(message, NodeHeartbeat):
            sockets = ((s.socket_id, s.account_id, s.user_id) for s in message.sockets)
            return self.apply_heartbeat(message, sockets)
        out: list[Outgoing] = []
        if isinstance(message, ConnectionOpened):
            node = self._nodes.get(message.node) or self._add_node(message.node)
            node.heard_at = self._clock()
            ref = message.socket
            self._open(node, ref.socket_id, ref.account_id, ref.user_id, out, announce=True)
        elif isinstance(message, ConnectionClosed):
            known = self._known_node(message.node)
            if known is not None:
                self._close(known, message.socket.socket_id, out)
        elif isinstance(message, TypingSignal):
            self._typing_signal(message, out)
        elif isinstance(message, AvailabilitySet):
            self._availability_set(message, out)
        else:
            self._availability_snapshot(message, out)
        return out

    def apply_heartbeat(
        self, beat: NodeHeartbeat, sockets: Iterable[SocketTuple]
    ) -> list[Outgoing]:
        """Apply a node's full snapshot (`sockets`; `beat.sockets` is ignored) as a diff."""
        applying = self.begin_snapshot(beat)
        return self.feed_snapshot(applying, sockets) + self.finish_snapshot(applying)

    def begin_snapshot(self, beat: NodeHeartbeat) -> SnapshotApply:
        """Accept a heartbeat (or raise `Dropped`), to apply in slices with `feed_snapshot`.

        Slices let the caller yield to the event loop inside a 50,000-socket snapshot. Ticks
        may run between slices; sockets not seen are removed only by `finish_snapshot`.
        """
        node = self._nodes.get(beat.node)
        if node is None:
            node = self._add_node(beat.node)
        elif (beat.epoch == node.epoch and beat.seq <= node.seq) or beat.epoch in node.retired:
            raise Dropped(
                STALE_HEARTBEAT,
                f"node {beat.node} epoch {beat.epoch} seq {beat.seq} (at seq {node.seq})",
            )
        elif node.epoch is not None and beat.epoch != node.epoch:
            node.retired.append(node.epoch)  # restarted: its new snapshot replaces the old run's
        node.epoch, node.seq, node.interval_s = beat.epoch, beat.seq, beat.interval_s
        node.heard_at = self._clock()
        self.stats.heartbeats += 1
        # In warm-up the snapshot rebuilds what another replica (or our previous run) announced.
        return SnapshotApply(node, announce=not self.warming)

    def feed_snapshot(
        self, applying: SnapshotApply, sockets: Iterable[SocketTuple]
    ) -> list[Outgoing]:
        out: list[Outgoing] = []
        node = applying.node
        if self._nodes.get(node.node_id) is not node:
            return out  # suspended or declared dead in between: this snapshot is moot
        current, seen, announce = node.sockets, applying.seen, applying.announce
        for socket_id, account_id, user_id in sockets:
            seen.add(socket_id)
            agent = current.get(socket_id)
            if agent is None or agent.account_id != account_id or agent.user_id != user_id:
                self._open(node, socket_id, account_id, user_id, out, announce=announce)
        return out

    def finish_snapshot(
        self, applying: SnapshotApply, *, max_sockets: int | None = None
    ) -> list[Outgoing]:
        """Close the node's sockets the snapshot did not list, up to `max_sockets` per call.

        Call again while `applying.done` is false: closing 50,000 sockets is a slice job too.
        """
        out: list[Outgoing] = []
        node = applying.node
        if self._nodes.get(node.node_id) is not node:
            applying.done = True
            return out
        if applying.gone is None:
            seen = applying.seen
            if len(seen) == len(node.sockets):
                applying.gone = []
            else:
                applying.gone = [s for s in node.sockets if s not in seen]
        gone = applying.gone
        count = len(gone) if max_sockets is None else min(max_sockets, len(gone))
        for _ in range(count):
            self._close(node, gone.pop(), out)
        applying.done = not gone
        return out

    def tick(self, max_offline: int | None = None) -> list[Outgoing]:
        """Expire what is due: dead nodes, typing past its TTL, offline past its grace.

        `max_offline` bounds the offline transitions of one call (the rest stay due for the
        next), so that 20,000 agents of a dead node do not hold up the next typing expiry.
        """
        if self._fed_since is None:
            return []  # nothing heard yet: nothing to decide
        now = self._clock()
        out: list[Outgoing] = []
        missed = self._settings.missed_heartbeats
        for node in [n for n in self._nodes.values() if now - n.heard_at > missed * n.interval_s]:
            self._node_died(node, out)
        self._typing.expire(now, out)
        warm_end = self._warm_end()
        for due, agent in self._offline_due.pop_due(now, max_offline):
            if agent.sockets:
                continue
            if now < warm_end:
                self._offline_due.schedule(agent, warm_end)
                continue
            self.stats.offline_lag_max_s = max(self.stats.offline_lag_max_s, now - due)
            self._set_status(agent, AgentStatus.OFFLINE, out, announce=True)
            self._agents.forget(agent)
        if not self._built and now >= warm_end:
            self._built = True
        return out

    def start_feed(self) -> None:
        """Messages reach this replica from now on (its queue is consumed): warm-up starts."""
        self._fed_since = self._clock()

    def restart_feed(self) -> None:
        """Forget what nodes said and warm up again: the queue was lost in a reconnect.

        What nodes sent meanwhile is gone, so warm-up starts over: the snapshots restore the
        sockets, and whoever is in no snapshot goes offline after it. Agents keep their status
        meanwhile, so reads stay close to the truth.
        """
        now = self._clock()
        for node in self._nodes.values():
            for agent in node.sockets.values():
                agent.sockets -= 1
        self._typing.detach_sockets()
        self._nodes.clear()
        self._socket_count = 0
        for agent in self._agents.all():
            if agent.status is not AgentStatus.OFFLINE and agent not in self._offline_due:
                self._offline_due.schedule(agent, now + self._settings.offline_grace_s)
        self._fed_since = now

    # -- views -------------------------------------------------------------------------------

    def agents_of(self, account_id: int) -> dict[int, AgentStatus]:
        agents = self._agents.of_account(account_id)
        return {u: a.status for u, a in agents.items() if a.status is not AgentStatus.OFFLINE}

    def typing_of(self, account_id: int) -> dict[int, list[int]]:
        return self._typing.of_account(account_id)

    def typers(self, account_id: int, conversation_id: int) -> list[int]:
        return self._typing.in_conversation(account_id, conversation_id)

    @property
    def built(self) -> bool:
        """Whether a first warm-up has ended (seen by `tick`): reads are right from then on."""
        return self._built

    @property
    def warming(self) -> bool:
        return self._fed_since is None or self._clock() < self._warm_end()

    @property
    def agents_online(self) -> int:
        return self._online

    @property
    def socket_count(self) -> int:
        return self._socket_count

    @property
    def typing_count(self) -> int:
        return self._typing.count

    def node_ages(self) -> dict[str, float]:
        now = self._clock()
        return {node_id: now - node.heard_at for node_id, node in self._nodes.items()}

    def next_due(self) -> float | None:
        dues = (self._typing.next_due(), self._offline_due.next_due())
        return min((d for d in dues if d is not None), default=None)

    # -- nodes and sockets -------------------------------------------------------------------

    def _warm_end(self) -> float:
        if self._fed_since is None:
            return float("inf")
        heard = [n.interval_s for n in self._nodes.values() if n.epoch is not None]
        round_s = max(heard, default=self._assumed_interval_s)
        return self._fed_since + self._settings.warmup_heartbeats * round_s

    def _add_node(self, node_id: str) -> Node:
        node = Node(node_id, self._assumed_interval_s, heard_at=self._clock())
        self._nodes[node_id] = node
        return node

    def _known_node(self, node_id: str) -> Node | None:
        node = self._nodes.get(node_id)
        if node is None:
            if not self.warming:
                # In warm-up it is merely a node we have not heard yet; later it is an error.
                raise Dropped(UNKNOWN_NODE, f"message from unknown node {node_id}")
        else:
            node.heard_at = self._clock()  # any word from a node shows it alive
        return node

    def _open(
        self,
        node: Node,
        socket_id: str,
        account_id: int,
        user_id: int,
        out: list[Outgoing],
        *,
        announce: bool,
    ) -> None:
        previous = node.sockets.get(socket_id)
        if previous is not None:
            if previous.account_id == account_id and previous.user_id == user_id:
                return
            self._close(node, socket_id, out)
        agent = self._agents.get_or_add(account_id, user_id)
        node.sockets[socket_id] = agent
        agent.sockets += 1
        self._socket_count += 1
        if agent.sockets == 1:
            self._offline_due.cancel(agent)
            self._settle(agent, out, announce=announce)

    def _close(self, node: Node, socket_id: str, out: list[Outgoing]) -> None:
        self._typing.socket_closed(node, socket_id, out)
        agent = node.sockets.pop(socket_id, None)
        if agent is None:
            return
        agent.sockets -= 1
        self._socket_count -= 1
        if agent.sockets == 0:
            self._settle(agent, out, announce=True)

    def _node_died(self, node: Node, out: list[Outgoing]) -> None:
        del self._nodes[node.node_id]
        self.stats.node_deaths += 1
        for socket_id in {*node.sockets, *node.typing}:
            self._close(node, socket_id, out)

    # -- agents ------------------------------------------------------------------------------

    def _settle(self, agent: Agent, out: list[Outgoing], *, announce: bool) -> None:
        """Bring the agent's status in line with its sockets and availability."""
        if agent.sockets:
            wanted = self._availability.wanted((agent.account_id, agent.user_id))
            status = AgentStatus.ONLINE if wanted is None else wanted
            if status is not agent.status:
                self._set_status(agent, status, out, announce=announce)
        elif agent.status is AgentStatus.OFFLINE:
            self._agents.forget(agent)
        elif agent not in self._offline_due:
            self._offline_due.schedule(agent, self._clock() + self._settings.offline_grace_s)

    def _set_status(
        self, agent: Agent, status: AgentStatus, out: list[Outgoing], *, announce: bool
    ) -> None:
        was_online = agent.status is not AgentStatus.OFFLINE
        agent.status = status
        self._online += (status is not AgentStatus.OFFLINE) - was_online
        self.stats.transitions[status.value] += 1
        if announce:
            out.append(
                AgentStatusChanged(
                    account_id=agent.account_id, user_id=agent.user_id, status=status
                )
            )

    def _availability_set(self, message: AvailabilitySet, out: list[Outgoing]) -> None:
        if self._availability.set(message):
            key = (message.agent.account_id, message.agent.user_id)
            self._settle_wish(key, out, announce=True)

    def _availability_snapshot(self, message: AvailabilitySnapshot, out: list[Outgoing]) -> None:
        changed = self._availability.replace(message)
        announce = not self.warming
        for key in changed:
            self._settle_wish(key, out, announce=announce)

    def _settle_wish(self, key: AgentKey, out: list[Outgoing], *, announce: bool) -> None:
        agent = self._agents.get(*key)
        if agent is not None and agent.sockets:
            self._settle(agent, out, announce=announce)

    # -- typing ------------------------------------------------------------------------------

    def _typing_signal(self, message: TypingSignal, out: list[Outgoing]) -> None:
        node = self._known_node(message.node)
        ref, conversation_id = message.socket, message.conversation_id
        if message.state is TypingState.START:
            self._typing.start(ref, conversation_id, node, self._clock(), out)
        elif not self._typing.stop(ref, conversation_id, out) and (
            self._clock() < self._amnesty_end()
        ):
            # The previous replica may have announced a start we never saw: a stop
            # nobody needs is harmless, a stuck indicator is not.
            stop = TypingState.STOP
            out.append(typing_event(ref.account_id, conversation_id, ref.user_id, stop))

    def _amnesty_end(self) -> float:
        if self._fed_since is None:
            return float("inf")
        return max(self._warm_end(), self._fed_since + self._settings.typing_ttl_s)
