"""The events Livedesk delivers, one pydantic model each, in a versioned envelope.

Each event is declared once, here: its model says what it carries, whom it reaches
(`audience`) and what its routing key names (`subject`), and its declaring union says whether
it has an offset and whether the broker carries it. The type sets, the decoders, routing
(`routing.event_key`) and the gateway's fan-out all derive from that. Adding an event is its
model, one line in one union, its producer and the clients' handlers (docs/design.md lists the
files; tests/unit/test_event_declaration.py holds the rest of the code to the declaration).

Persistent events carry the account's gapless `offset` and the commit time `ts`; they are what
the outbox stores, what replay returns and what a socket receives, byte for byte. Ephemeral
events carry no offset and are at most once. An event is encoded once (`encode`) and the same
bytes go to the broker and to every socket. Adding an optional field keeps `v`; renaming or
removing one bumps it. What gateways tell presence lives in `presence_messages`: clients never
see it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal, TypeGuard, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from livedesk.shared.errors import EventError

VERSION: Final = 1

# A message body is support-chat text, not a file: 16 KiB of characters is several pages,
# and it bounds what one event costs every socket of the account.
MAX_CONTENT_CHARS: Final = 16_384
# The largest encoded event a consumer accepts; content plus envelope fits well inside.
MAX_EVENT_BYTES: Final = 128 * 1024

AccountId = Annotated[int, Field(ge=1)]
ObjectId = Annotated[int, Field(ge=1)]


class Model(BaseModel):
    # An undeclared field is a producer bug: fail where the event is built.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class MessageKind(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    NOTE = "note"


class SenderType(StrEnum):
    CONTACT = "contact"
    AGENT = "agent"


class AgentStatus(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class Audience(StrEnum):
    """Which sockets of the event's account a gateway writes it to."""

    ACCOUNT = "account"  # every socket of the account
    SUBSCRIBERS = "subscribers"  # the sockets subscribed to the event's conversation
    SOCKET = "socket"  # only the socket it was made for; never routed through the broker


class Subject(StrEnum):
    """What the routing key of an event names after its account (see `routing`)."""

    CONVERSATION = "conv"
    AGENT = "agent"


class TypingState(StrEnum):
    START = "start"
    STOP = "stop"


class MessageData(Model):
    id: ObjectId
    conversation_id: ObjectId
    kind: MessageKind
    content: str = Field(max_length=MAX_CONTENT_CHARS)
    sender_type: SenderType
    sender_id: ObjectId | None = None
    client_id: str | None = Field(default=None, max_length=128)
    created_at: datetime


class ConversationData(Model):
    id: ObjectId
    inbox_id: ObjectId
    contact_id: ObjectId
    status: ConversationStatus
    assignee_id: ObjectId | None = None
    version: int = Field(ge=1)
    created_at: datetime
    last_activity_at: datetime
    # Set while `status` is snoozed: when the conversation reopens by itself.
    snoozed_until: datetime | None = None
    # Who made the last change (status, assignee, snooze); None: the system, or no change yet.
    updated_by_id: ObjectId | None = None


ConversationField = Literal["status", "assignee_id", "snoozed_until"]


class ConversationChange(Model):
    conversation: ConversationData
    # Which fields this write changed; the new values are in `conversation`. A list rather
    # than optional fields, because "assignee_id became null" must differ from "unchanged".
    changed: tuple[ConversationField, ...] = Field(min_length=1)
    # The agent who changed it; None: the system (a snoozed conversation waking up).
    by: ObjectId | None = None


class ReadData(Model):
    user_id: ObjectId
    message_id: ObjectId


class Persistent(Model):
    audience: ClassVar[Audience] = Audience.ACCOUNT

    v: Literal[1] = VERSION
    offset: int = Field(ge=1)
    account_id: AccountId
    conversation_id: ObjectId
    ts: datetime  # commit time: gateways measure commit-to-socket latency from it

    def subject(self) -> tuple[Subject, int]:
        return Subject.CONVERSATION, self.conversation_id


class NewMessage(Persistent):
    """A message was written in a conversation: a contact's, an agent's reply or a note."""

    type: Literal["new_message"] = "new_message"
    data: MessageData


class NewConversation(Persistent):
    """A conversation was opened."""

    type: Literal["new_conversation"] = "new_conversation"
    data: ConversationData


class ConversationUpdated(Persistent):
    """A conversation's status, assignee or snooze changed; `data.changed` names which and
    `data.by` who (null: the system)."""

    type: Literal["conversation_updated"] = "conversation_updated"
    data: ConversationChange


class MessageRead(Persistent):
    """An agent's read pointer in a conversation moved to `data.message_id`."""

    type: Literal["message_read"] = "message_read"
    data: ReadData


class Ephemeral(Model):
    audience: ClassVar[Audience]  # each ephemeral event says whom it reaches

    v: Literal[1] = VERSION
    account_id: AccountId


class Typing(Ephemeral):
    """Someone types in a conversation (`start`), or stopped: every start is ended by one
    `stop`, on stop, after the typing TTL without a new start, or on disconnect."""

    audience: ClassVar[Audience] = Audience.SUBSCRIBERS

    type: Literal["typing"] = "typing"
    conversation_id: ObjectId
    user_id: ObjectId
    state: TypingState

    def subject(self) -> tuple[Subject, int]:
        return Subject.CONVERSATION, self.conversation_id


class AgentStatusChanged(Ephemeral):
    """An agent's status changed: their availability while they have a socket open, offline
    once they have none (after a grace, so that a page reload is not a departure)."""

    audience: ClassVar[Audience] = Audience.ACCOUNT

    type: Literal["agent_status"] = "agent_status"
    user_id: ObjectId
    status: AgentStatus

    def subject(self) -> tuple[Subject, int]:
        return Subject.AGENT, self.user_id


class PresenceState(Ephemeral):
    """Sent by a gateway to one socket after `ready`: who of the account is online now."""

    audience: ClassVar[Audience] = Audience.SOCKET

    type: Literal["presence_state"] = "presence_state"
    agents: dict[int, AgentStatus]


# The declaration of which events exist: each event in exactly one of these three unions
# (tests/unit/test_event_declaration.py checks it). Every other union and set derives from them.
AnyPersistent = NewMessage | NewConversation | ConversationUpdated | MessageRead
AnyRoutedEphemeral = Typing | AgentStatusChanged  # through the broker: each has a `subject()`
AnySocketEphemeral = PresenceState  # made by a gateway for one socket: never routed

AnyEphemeral = AnyRoutedEphemeral | AnySocketEphemeral
PersistentEvent = Annotated[AnyPersistent, Field(discriminator="type")]
EphemeralEvent = Annotated[AnyEphemeral, Field(discriminator="type")]
Event = Annotated[AnyPersistent | AnyEphemeral, Field(discriminator="type")]
# Events the broker carries: each has a `subject()` for its routing key.
Routed = AnyPersistent | AnyRoutedEphemeral


def _type_names(union: object) -> frozenset[str]:
    return frozenset(model.model_fields["type"].default for model in get_args(union))


PERSISTENT_TYPES: Final = _type_names(AnyPersistent)
EPHEMERAL_TYPES: Final = _type_names(AnyEphemeral)
_ROUTED: Final = get_args(Routed)

_events: TypeAdapter[Event] = TypeAdapter(Event)
_persistent: TypeAdapter[PersistentEvent] = TypeAdapter(PersistentEvent)

T = TypeVar("T")


def is_routed(event: Event) -> TypeGuard[Routed]:
    """Whether the event travels through the broker (and so has a routing `subject()`)."""
    return isinstance(event, _ROUTED)


def encode(event: Event) -> bytes:
    """Serialize once; the same bytes go to the broker, the outbox and every socket.

    pydantic-core's serializer rather than orjson: no slower here, since orjson needs a
    `model_dump` first (docs/performance.md), and it needs no second schema.
    """
    return _events.dump_json(event)


def decode(raw: bytes | str) -> Event:
    """Parse and validate one event; raise `EventError` with a clear reason otherwise."""
    return _validate(_events, raw)


def decode_persistent(raw: bytes | str) -> PersistentEvent:
    """Like `decode`, but only the offset-carrying events are accepted."""
    return _validate(_persistent, raw)


def _validate(adapter: TypeAdapter[T], raw: bytes | str) -> T:
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError("too_large", f"event of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        return adapter.validate_json(raw)
    except ValidationError as error:
        raise EventError("invalid_event", describe(error)) from None


def describe(error: ValidationError) -> str:
    """One line naming each failing field, for logs and error frames."""
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "event"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)
