"""What the REST API reads and writes: request bodies (unknown fields refused) and responses.

Lists and single reads carry `offset`: the account's last event offset as of the same
snapshot, so a client that loads state here and resumes its socket from that offset misses
nothing and applies nothing twice. Not here: the tables (`models`) and the events (shared).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from livedesk.api.fields import (
    ClientId,
    Content,
    CustomAttributes,
    EmailAddress,
    Id,
    Moment,
    Name,
    Phone,
)
from livedesk.shared.events import (
    AgentStatus,
    ConversationField,
    ConversationStatus,
    MessageKind,
    SenderType,
)
from livedesk.shared.tokens import Role

Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Availability = Literal[AgentStatus.ONLINE, AgentStatus.BUSY, AgentStatus.AWAY]
# One definition for every answer that carries a count (see `queries.unread_count`).
UnreadCount = Annotated[
    int,
    Field(
        ge=0,
        description="messages after the caller's read pointer (all of them without one) that "
        "the caller did not write: the contact's, and colleagues' replies and notes",
    ),
]

T = TypeVar("T")


class Body(BaseModel):
    # A misspelt field is a client bug: say so (422) instead of ignoring it.
    model_config = ConfigDict(extra="forbid")


class TokenRequest(Body):
    email: EmailAddress
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    account_id: Id | None = Field(
        None, description="the account to log into; absent: the e-mail's first account"
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class PasswordChange(Body):
    password: Password
    # Required to change one's own password; an admin resetting another's leaves it out.
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class AgentCreate(Body):
    email: EmailAddress
    password: Password
    name: Name
    role: Role = Role.AGENT


class AgentPatch(Body):
    role: Role | None = None
    availability: Availability | None = None
    name: Name | None = None


class AgentOut(BaseModel):
    id: int
    account_id: int
    email: str
    name: str
    role: Role
    availability: AgentStatus
    created_at: datetime
    disabled: bool  # cannot log in or refresh; every session was revoked when disabled


class InboxCreate(Body):
    name: Name


class InboxOut(BaseModel):
    id: int
    account_id: int
    name: str
    created_at: datetime


class ContactCreate(Body):
    name: Name
    email: EmailAddress | None = None
    phone: Phone | None = None
    custom_attributes: CustomAttributes = Field(default_factory=dict)


class ContactPatch(Body):
    # Only the fields sent change; null clears e-mail or phone. The attributes are replaced
    # as a whole: send the object as it should be.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: Name | SkipJsonSchema[None] = None  # a contact always has a name
    email: EmailAddress | None = None
    phone: Phone | None = None
    custom_attributes: CustomAttributes | SkipJsonSchema[None] = None


class ContactOut(BaseModel):
    id: int
    account_id: int
    name: str
    email: str | None
    phone: str | None
    custom_attributes: dict[str, bool | int | float | str]
    created_at: datetime


class ConversationCreate(Body):
    inbox_id: Id
    contact_id: Id
    assignee_id: Id | None = None


# "status is snoozed", as a JSON Schema condition.
_SNOOZING: JsonDict = {"required": ["status"], "properties": {"status": {"const": "snoozed"}}}


class ConversationPatch(Body):
    # Something to change: status, assignee_id or both (`version` alone changes nothing);
    # snoozed_until exactly when the status is snoozed. That it lies in the future is
    # checked where the time is known (`store.conversations`).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {"anyOf": [{"required": ["status"]}, {"required": ["assignee_id"]}]},
                {"if": {"required": ["snoozed_until"]}, "then": _SNOOZING},
                {"if": _SNOOZING, "then": {"required": ["snoozed_until"]}},
            ]
        }
    )

    # A target state, never a toggle: the status it already has changes nothing. Absent
    # leaves the status as it is; null is refused (the schema does not offer it).
    status: ConversationStatus | SkipJsonSchema[None] = None
    # Explicit null unassigns; absent leaves the assignee as it is.
    assignee_id: Id | None = None
    snoozed_until: Moment | SkipJsonSchema[None] = Field(
        None,
        description="with status snoozed only, and required there: when the conversation "
        "reopens by itself (in the future). Any other status clears it",
    )
    # The version the client saw; If-Match carries the same, whichever is handier.
    version: Annotated[int, Field(ge=1)] | None = None


class ContactSummary(BaseModel):
    """A conversation's contact, enough to name it in a list."""

    id: int
    name: str
    email: str | None


class LastMessage(BaseModel):
    """A conversation's newest message (notes included), enough for a list's preview."""

    id: int
    kind: MessageKind
    sender_type: SenderType
    sender_id: int | None
    preview: str = Field(description="the content's start, white space collapsed to spaces")
    created_at: datetime


class ConversationOut(BaseModel):
    id: int
    account_id: int
    inbox_id: int
    contact_id: int
    status: ConversationStatus
    assignee_id: int | None
    version: int
    created_at: datetime
    last_activity_at: datetime
    unread_count: UnreadCount = 0
    contact: ContactSummary
    last_message: LastMessage | None = Field(description="null until the first message")
    snoozed_until: datetime | None = Field(
        None, description="while snoozed: when the conversation reopens by itself"
    )
    updated_by_id: int | None = Field(
        None, description="who made the last change; null: the system, or no change yet"
    )


class ConversationRead(ConversationOut):
    offset: int


class StatusCounts(BaseModel):
    open: int
    pending: int
    snoozed: int
    resolved: int


class AssigneeCounts(BaseModel):
    mine: StatusCounts = Field(description="assigned to the caller")
    unassigned: StatusCounts
    all: StatusCounts


class ConversationCounts(BaseModel):
    """How many conversations each of the list's filters holds, as of `offset`."""

    offset: int
    counts: AssigneeCounts


class SearchHit(BaseModel):
    conversation: ConversationOut
    message_id: int | None = Field(
        description="the conversation's newest message that matched; null: the contact matched"
    )
    snippet: str = Field(description="the matched text around the match, or the contact's name")


class MessageCreate(Body):
    content: Content
    kind: MessageKind = MessageKind.OUTGOING
    client_id: ClientId | None = None


class MessageImport(MessageCreate):
    # A sender only for an agent's kinds: absent kind means incoming, the contact's.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"not": {"required": ["sender_id"]}},
                {"properties": {"sender_id": {"type": "null"}}},
                {"required": ["kind"], "properties": {"kind": {"enum": ["outgoing", "note"]}}},
            ]
        }
    )

    kind: MessageKind = MessageKind.INCOMING
    created_at: Moment | None = Field(
        None,
        description="when the message was first written (absent: now); the message keeps it, "
        "while its place in the conversation and its event's offset are the import's",
    )
    sender_id: Id | None = Field(
        None,
        description="the agent of the account who wrote a reply or note (absent: the "
        "importing admin); not for incoming messages, which are the contact's",
    )


class MessageOut(BaseModel):
    id: int
    account_id: int
    conversation_id: int
    kind: MessageKind
    content: str
    sender_type: SenderType
    sender_id: int | None
    client_id: str | None
    created_at: datetime


class ReadCreate(Body):
    message_id: Id


class ReadOut(BaseModel):
    conversation_id: int
    user_id: int
    message_id: int
    unread_count: UnreadCount


class ReadPointerOut(BaseModel):
    user_id: int
    message_id: int = Field(description="the last message this agent has read")
    updated_at: datetime


class ReadPointers(BaseModel):
    items: list[ReadPointerOut]


class ErrorOut(BaseModel):
    """Every error's body (`errors`, `request_boundary`)."""

    code: str = Field(description="stable, for programs: not_found, invalid_request, ...")
    message: str = Field(description="for people: what was wrong, in words")
    request_id: str | None = Field(
        None, description="on a 500 only: the request's id, to quote when reporting it"
    )


class Actor(BaseModel):
    id: int
    name: str


class VersionConflictOut(ErrorOut):
    """A 409 version_conflict: the conversation as it is now, and its last change."""

    conversation: ConversationOut
    changed_by: Actor | None = Field(
        description="who made the last change; null: the system (a snooze ran out), "
        "or no change since the conversation was opened"
    )
    changed: list[ConversationField] = Field(description="the fields the last change changed")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: str = Field(description='"ok", or "down: <reason>"')
    broker: Literal["ok", "down"]


class Page(BaseModel, Generic[T]):
    items: list[T]
    # Pass as `cursor` for the next page; null on the last one.
    next_cursor: str | None = None
    offset: int
