"""What the REST API reads and writes: request bodies (unknown fields refused) and responses.

Lists and single reads carry `offset`: the account's last event offset as of the same
snapshot, so a client that loads state here and resumes its socket from that offset misses
nothing and applies nothing twice. Not here: the tables (`models`) and the events (shared).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from livedesk.api.fields import ClientId, Content, EmailAddress, Id, Moment, Name
from livedesk.shared.events import (
    AgentStatus,
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


class ContactOut(BaseModel):
    id: int
    account_id: int
    name: str
    email: str | None
    created_at: datetime


class ConversationCreate(Body):
    inbox_id: Id
    contact_id: Id
    assignee_id: Id | None = None


class ConversationPatch(Body):
    # Something to change: status, assignee_id or both (`version` alone changes nothing).
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["status"]}, {"required": ["assignee_id"]}]}
    )

    # Absent leaves the status as it is; null is refused (the schema does not offer it).
    status: ConversationStatus | SkipJsonSchema[None] = None
    # Explicit null unassigns; absent leaves the assignee as it is.
    assignee_id: Id | None = None
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
    kind: MessageKind = MessageKind.INCOMING
    created_at: Moment | None = Field(
        None,
        description="when the message was first written (absent: now); the message keeps it, "
        "while its place in the conversation and its event's offset are the import's",
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


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: str = Field(description='"ok", or "down: <reason>"')
    broker: Literal["ok", "down"]


class Page(BaseModel, Generic[T]):
    items: list[T]
    # Pass as `cursor` for the next page; null on the last one.
    next_cursor: str | None = None
    offset: int
