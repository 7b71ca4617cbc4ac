"""The records presence keeps: nodes, their sockets, agents, typers, and its counters.

Plain data and the index of agents, shared by the state machine (`state.py`) and its parts;
the rules that change them live there, not here.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from livedesk.shared.events import AgentStatus, AgentStatusChanged, Typing

Clock = Callable[[], float]
Outgoing = AgentStatusChanged | Typing
SocketTuple = tuple[str, int, int]  # socket_id, account_id, user_id
SocketKey = tuple[str, str]  # node, socket_id

# A node restarted many times in a row is still one node; remembering its last few epochs is
# enough to refuse a straggling heartbeat of an earlier run.
RETIRED_EPOCHS: Final = 8
EXPIRY_LAGS_KEPT: Final = 4096


@dataclass(slots=True, eq=False)
class Agent:
    account_id: int
    user_id: int
    status: AgentStatus = AgentStatus.OFFLINE  # as last announced (or adopted in warm-up)
    sockets: int = 0  # open sockets on live nodes


class AgentDirectory:
    """The agents presence tracks, by account and user."""

    def __init__(self) -> None:
        self._by_account: dict[int, dict[int, Agent]] = {}

    def get(self, account_id: int, user_id: int) -> Agent | None:
        return self._by_account.get(account_id, {}).get(user_id)

    def get_or_add(self, account_id: int, user_id: int) -> Agent:
        agents = self._by_account.setdefault(account_id, {})
        agent = agents.get(user_id)
        if agent is None:
            agent = agents[user_id] = Agent(account_id, user_id)
        return agent

    def of_account(self, account_id: int) -> dict[int, Agent]:
        return self._by_account.get(account_id, {})

    def all(self) -> list[Agent]:
        return [agent for agents in self._by_account.values() for agent in agents.values()]

    def forget(self, agent: Agent) -> None:
        agents = self._by_account.get(agent.account_id, {})
        if agents.get(agent.user_id) is agent:
            del agents[agent.user_id]
            if not agents:
                del self._by_account[agent.account_id]


@dataclass(slots=True, eq=False)
class Typer:
    account_id: int
    conversation_id: int
    user_id: int
    expires_at: float
    sockets: set[SocketKey] = field(default_factory=set)


@dataclass(slots=True, eq=False)
class Node:
    node_id: str
    interval_s: float
    heard_at: float
    epoch: str | None = None  # None until its first heartbeat
    seq: int = -1
    sockets: dict[str, Agent] = field(default_factory=dict)
    typing: dict[str, set[Typer]] = field(default_factory=dict)  # socket_id -> its typers
    retired: deque[str] = field(default_factory=lambda: deque(maxlen=RETIRED_EPOCHS))


@dataclass(slots=True)
class SnapshotApply:
    """A heartbeat being applied: its node and the sockets seen so far."""

    node: Node
    announce: bool
    seen: set[str] = field(default_factory=set)
    gone: list[str] | None = None  # the unseen sockets, once feeding is over
    done: bool = False


@dataclass
class Stats:
    transitions: Counter[str] = field(default_factory=Counter)  # by new status
    typing_starts: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # by reason
    node_deaths: int = 0
    heartbeats: int = 0
    # How late typing expiries fired (recent ones, and the worst), and offline ones.
    expiry_lag_max_s: float = 0.0
    expiry_lags_s: deque[float] = field(default_factory=lambda: deque(maxlen=EXPIRY_LAGS_KEPT))
    offline_lag_max_s: float = 0.0

    def record_expiry_lag(self, lag_s: float) -> None:
        self.expiry_lags_s.append(lag_s)
        self.expiry_lag_max_s = max(self.expiry_lag_max_s, lag_s)
