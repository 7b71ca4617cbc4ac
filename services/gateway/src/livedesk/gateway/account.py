"""What a node holds for each socket (`Client`) and for each account it serves (`Account`).

An account's state is two small machines beside its sets of sockets: `Binding`, where its
bindings on the node queue stand (bindings.py moves it), and `Fill`, whether its events are
being fetched from the API (gap_fill.py moves it).

Deliberately not here: any behaviour; the modules named above change these records.
"""

from __future__ import annotations

import asyncio
from enum import Enum

from livedesk.gateway.api_client import ReplayPage
from livedesk.gateway.ordering import Sequencer
from livedesk.gateway.resume_budget import ResumeBudget
from livedesk.gateway.resume_buffer import ResumeBuffer
from livedesk.gateway.session import SendQueue, Session
from livedesk.gateway.sockets import Socket
from livedesk.shared import routing
from livedesk.shared.presence_messages import SocketRef
from livedesk.shared.settings import GatewaySettings


class Client:
    """One socket as the node knows it: where to write, how much is queued, whose it is."""

    __slots__ = ("account_id", "closing", "queue", "ref", "session", "socket", "user_id")

    def __init__(self, socket: Socket, session: Session, queue: SendQueue) -> None:
        self.socket, self.session, self.queue = socket, session, queue
        self.account_id = 0
        self.user_id = 0
        self.ref: SocketRef | None = None
        self.closing = False  # nothing more is written to it; its close is under way


class Binding(Enum):
    """Where an account's bindings (on livedesk.events and livedesk.ephemeral) stand."""

    # Neither exchange bound: a new account, or unbound after its last socket left while
    # another socket was arriving (it then binds again).
    UNBOUND = "unbound"
    # Both bound, and the account is not yet caught up: a new one has no baseline offset, or
    # what was published while it was unbound is still to be fetched.
    BOUND_BEHIND = "bound_behind"
    # Both bound, and what the broker brings follows what was delivered.
    BOUND = "bound"
    # An unbind failed part-way: either exchange may still be bound. An arrival binds both
    # again; with none, the unbind is tried again (either is harmless if done already).
    IN_DOUBT = "in_doubt"


class Fill(Enum):
    """Whether the account's events are being fetched from the API (one fill at a time)."""

    IDLE = "idle"
    RUNNING = "running"
    # Running, and a fill up to the latest offset is owed once it ends (a broker reconnect
    # came during a gap fill).
    RUNNING_THEN_LATEST = "running_then_latest"


class Account:
    """What the node holds for one account it has sockets of (or had, within the grace)."""

    def __init__(self, account_id: int, settings: GatewaySettings, budget: ResumeBudget) -> None:
        self.account_id = account_id
        self.pattern = routing.account_pattern(account_id)
        self.seq = Sequencer(settings.gap_hold_events, settings.gap_hold_bytes)
        # The last events delivered, for resumes.
        self.resume_buffer = ResumeBuffer(
            settings.resume_buffer_events, settings.resume_buffer_bytes, budget=budget
        )
        # Replay requests in flight for resuming sockets, by (after, limit): shared.
        self.replays: dict[tuple[int, int], asyncio.Task[ReplayPage | Exception]] = {}
        # Renewed by every agent_status seen, by each bind (unbound, the node heard none) and
        # by a broker reconnect (which may lose some): a presence_state fetched under another
        # value may be stale. Drawn from the node's counter, so an account bound again never
        # finds the value of its previous binding.
        self.status_epoch = 0
        self.clients: set[Client] = set()  # attached: keeps the binding
        self.members: dict[Client, None] = {}  # past `ready`: gets agent_status
        self.live: dict[Client, None] = {}  # caught up: gets persistent events as they come
        self.subscribers: dict[int, dict[Client, None]] = {}  # conversation -> typing readers
        # Resuming sockets waiting for the live stream to reach their cursor, by cursor; each
        # future is set True when the fan-out made its socket live there (catch_up.py).
        self.waiting: dict[int, list[tuple[Client, asyncio.Future[bool]]]] = {}
        self.lock = asyncio.Lock()  # serializes binds and unbinds
        self.binding = Binding.UNBOUND
        self.unbind: asyncio.Task[None] | None = None  # waiting out the grace before unbinding
        self.fill = Fill.IDLE

    @property
    def bound(self) -> bool:
        return self.binding is Binding.BOUND or self.binding is Binding.BOUND_BEHIND
