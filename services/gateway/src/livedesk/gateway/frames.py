"""Every frame of /ws other than the events, as a pydantic model: the protocol's published shape.

The server's control frames are built from these models (protocol.py), so what a node sends is
what `livedesk asyncapi` writes into docs/asyncapi.yaml. Client frames are checked by
`protocol.parse_frame`, whose hand-made checks give each mistake its stable error code; a
property test (tests/unit/gateway/test_frame_models.py) holds it to accepting exactly what the
client models here accept. Docstrings and field descriptions are the document's prose.

Deliberately not here: the events (shared/events.py, sent byte for byte), close codes and
error codes (protocol.py), parsing (protocol.py).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import WithJsonSchema as JsonSchema

from livedesk.shared.events import Model, TypingState

# A ref is the client's correlation id, echoed back: short strings or integers only, so an
# echo can never cost more than the frame that carried it.
MAX_REF_CHARS: Final = 64
# Database ids are bigints; anything beyond cannot name a conversation.
MAX_ID: Final = 2**63 - 1

# Bounds written as integers: pydantic would write 2**63 - 1 as a float, which is 2**63.
Id = Annotated[
    int,
    Field(ge=1, le=MAX_ID),
    JsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID}),
]
Offset = Annotated[
    int,
    Field(ge=0, le=MAX_ID),
    JsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ID}),
]
RefText = Annotated[str, StringConstraints(max_length=MAX_REF_CHARS)]
RefNumber = Annotated[
    int,
    Field(ge=-MAX_ID, le=MAX_ID),
    JsonSchema({"type": "integer", "minimum": -MAX_ID, "maximum": MAX_ID}),
]
Ref = Annotated[
    RefText | RefNumber | None,
    Field(
        description="The client's correlation id: put on any client frame, echoed on its reply",
    ),
]


class ClientFrame(BaseModel):
    # Strict: "3" is not 3 and true is not 1, as protocol.parse_frame decides. Unknown fields
    # are ignored, so a newer client can talk to an older node.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    ref: Ref = None


class AuthFrame(ClientFrame):
    """The first frame, within `auth_timeout_s` (10 s) of opening: else 4408. Sent again on a
    live socket, it renews the token (answered with `auth_renewed`)."""

    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, description="an access token from the REST API")]
    resume_from: Offset | None = Field(
        default=None,
        description="the last offset the client has; the events after it follow `ready`",
    )


class SubscribeFrame(ClientFrame):
    """Hear `typing` of a conversation of the account; answered with `subscribed`."""

    type: Literal["subscribe"]
    conversation_id: Id


class UnsubscribeFrame(ClientFrame):
    """Stop hearing `typing` of a conversation; answered with `unsubscribed`."""

    type: Literal["unsubscribe"]
    conversation_id: Id


class TypingStateFrame(ClientFrame):
    """The user types (`start`, repeated every `typing_interval_s` of `ready`) or stopped, in a
    conversation this socket is subscribed to."""

    type: Literal["typing"]
    conversation_id: Id
    state: TypingState


class PingFrame(ClientFrame):
    """An application-level ping: answered with `pong` and the account's latest offset."""

    type: Literal["ping"]


# The declaration of which frames exist, one union each way (as events.py declares events).
AnyClientFrame = AuthFrame | SubscribeFrame | UnsubscribeFrame | TypingStateFrame | PingFrame


class ServerFrame(Model):
    ref: Ref = None


class Ready(ServerFrame):
    """The answer to the first `auth`: the socket is live. Events after `offset` follow (after
    `resume_from` first, when the client sent one), then `presence_state`."""

    type: Literal["ready"] = "ready"
    node: str = Field(description="the gateway node serving this socket")
    account_id: Id
    user_id: Id
    offset: Offset = Field(description="the account's latest offset this node has delivered")
    typing_interval_s: float = Field(
        gt=0,
        description="how often to repeat a typing start while the user types: half the TTL",
    )


class AuthRenewed(ServerFrame):
    """The answer to an `auth` on a live socket: its new token is in force."""

    type: Literal["auth_renewed"] = "auth_renewed"
    expires_at: int = Field(description="when the new token expires, in Unix seconds")


class Subscribed(ServerFrame):
    """The answer to `subscribe`: `typing` of this conversation now reaches the socket."""

    type: Literal["subscribed"] = "subscribed"
    conversation_id: Id
    typing: list[int] = Field(description="the user ids typing in it now")


class Unsubscribed(ServerFrame):
    """The answer to `unsubscribe`."""

    type: Literal["unsubscribed"] = "unsubscribed"
    conversation_id: Id


class Pong(ServerFrame):
    """The answer to `ping`."""

    type: Literal["pong"] = "pong"
    offset: Offset | None = Field(
        description="the account's latest offset this node knows (null: none yet); a client "
        "behind it has missed events and reconnects to resume",
    )


class Error(ServerFrame):
    """A frame the server refuses, or why it is about to close the socket. A bad frame leaves
    the socket open; its `ref`, when readable, is echoed."""

    type: Literal["error"] = "error"
    code: str = Field(description="stable, for programs")
    message: str = Field(description="for people")


class ResyncRequired(ServerFrame):
    """Events the client asked for are past the replay retention: reload state over REST.
    Everything after `offset` follows on this socket."""

    type: Literal["resync_required"] = "resync_required"
    offset: Offset
    message: str


class Reconnect(ServerFrame):
    """A drain hint: this node is going away. Reconnect (to any node) and resume; the close
    (1001) follows."""

    type: Literal["reconnect"] = "reconnect"
    message: str


AnyServerFrame = (
    Ready | AuthRenewed | Subscribed | Unsubscribed | Pong | Error | ResyncRequired | Reconnect
)
