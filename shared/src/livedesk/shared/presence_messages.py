"""The internal messages gateways (and the API) send presence on `livedesk.presence.in`.

Presence state is soft: it is rebuilt from these alone. A gateway announces each socket as
it opens and closes, and every few seconds sends a full snapshot of its sockets (the
heartbeat), so a lost open or close is corrected within one heartbeat and a node that goes
silent can be declared dead. Typing signals go the same way, because presence owns the
typing TTL and the one `typing` stop that must end every indicator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import Field, TypeAdapter, ValidationError

from livedesk.shared.errors import EventError
from livedesk.shared.events import (
    VERSION,
    AccountId,
    AgentStatus,
    Model,
    ObjectId,
    TypingState,
    describe,
)

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SocketId = Annotated[str, Field(min_length=1, max_length=64)]

# A snapshot of 50,000 sockets is ~4 MB of JSON; more than that on one node is a bug.
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024


class SocketRef(Model):
    socket_id: SocketId
    account_id: AccountId
    user_id: ObjectId


class NodeMessage(Model):
    v: Literal[1] = VERSION
    node: NodeId
    sent_at: datetime


class ConnectionOpened(NodeMessage):
    type: Literal["connection_opened"] = "connection_opened"
    socket: SocketRef


class ConnectionClosed(NodeMessage):
    type: Literal["connection_closed"] = "connection_closed"
    socket: SocketRef


class NodeHeartbeat(NodeMessage):
    type: Literal["node_heartbeat"] = "node_heartbeat"
    # Increases by one per heartbeat of this node's run; a lower one than seen is stale.
    seq: int = Field(ge=0)
    # Identifies one run of the node: a restarted node with the same id starts a new epoch.
    epoch: str = Field(min_length=1, max_length=64)
    interval_s: float = Field(gt=0)
    sockets: tuple[SocketRef, ...]


class TypingSignal(NodeMessage):
    type: Literal["typing_signal"] = "typing_signal"
    socket: SocketRef
    conversation_id: ObjectId
    state: TypingState


Availability = Literal[AgentStatus.ONLINE, AgentStatus.BUSY, AgentStatus.AWAY]


class AgentAvailability(Model):
    account_id: AccountId
    user_id: ObjectId
    availability: Availability


class AvailabilitySet(NodeMessage):
    """Sent by the API right after an agent's availability changed (node = the API replica)."""

    type: Literal["availability_set"] = "availability_set"
    agent: AgentAvailability


class AvailabilitySnapshot(NodeMessage):
    """Sent by the API every few seconds: every agent whose availability is not `online`.

    An agent absent from it is `online`. It lets a presence replica that has just taken
    over learn who is busy or away without a database of its own.
    """

    type: Literal["availability_snapshot"] = "availability_snapshot"
    agents: tuple[AgentAvailability, ...]


PresenceMessage = Annotated[
    ConnectionOpened
    | ConnectionClosed
    | NodeHeartbeat
    | TypingSignal
    | AvailabilitySet
    | AvailabilitySnapshot,
    Field(discriminator="type"),
]

_messages: TypeAdapter[PresenceMessage] = TypeAdapter(PresenceMessage)


def encode_message(message: PresenceMessage) -> bytes:
    return _messages.dump_json(message)


def decode_message(raw: bytes | str) -> PresenceMessage:
    """Parse one message from a gateway; raise `EventError` with a clear reason otherwise."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise EventError("too_large", f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return _messages.validate_json(raw)
    except ValidationError as error:
        raise EventError("invalid_message", describe(error)) from None
