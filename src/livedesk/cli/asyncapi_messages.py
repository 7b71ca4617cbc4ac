"""The messages of the AsyncAPI document and their schemas, taken from the models.

Every /ws frame (gateway/frames.py), every event (shared/events.py) and every message to
presence (shared/presence_messages.py) becomes one AsyncAPI message whose payload is its
model's JSON Schema, with the model's docstring as its summary. The schemas of what the
services write are adjusted to what is written (`_as_written`).

Deliberately not here: channels, operations and servers (asyncapi.py), the words about codes
(asyncapi_codes.py).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from livedesk.cli.asyncapi_codes import error_codes_list
from livedesk.gateway import frames
from livedesk.shared import events, presence_messages
from livedesk.shared.events import Audience

SCHEMAS: Final = "#/components/schemas/"
AUDIENCE: Final = {
    Audience.ACCOUNT: "every socket of the account",
    Audience.SUBSCRIBERS: "the sockets subscribed to the conversation",
    Audience.SOCKET: "only the socket it is sent to",
}

Mode = Literal["validation", "serialization"]


def models_of(union: object) -> tuple[type[BaseModel], ...]:
    """The models of a union, or of an `Annotated` union (a discriminated one)."""
    args = get_args(union)
    return get_args(args[0]) or args


def type_of(model: type[BaseModel]) -> str:
    """The `type` a model's messages carry: its default, or (client frames, which must say
    it) its Literal's one value."""
    annotation = model.model_fields["type"].annotation
    (value,) = get_args(annotation)
    assert isinstance(value, str), model
    return value


@dataclass
class Messages:
    """The document's messages by component key, and the keys of each kind."""

    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    client: dict[str, str] = field(default_factory=dict)  # frame type -> key
    control: dict[str, str] = field(default_factory=dict)
    persistent: list[str] = field(default_factory=list)
    ephemeral: list[str] = field(default_factory=list)
    presence: list[str] = field(default_factory=list)

    def add(self, key: str, model: type[BaseModel], description: str = "") -> str:
        name = type_of(model)
        message: dict[str, Any] = {"name": name, "title": name}
        if summary := " ".join((inspect.getdoc(model) or "").split("\n\n", 1)[0].split()):
            message["summary"] = summary
        if description:
            message["description"] = description
        message["payload"] = {"$ref": SCHEMAS + model.__name__}
        self.components[key] = message
        return key


def messages() -> Messages:
    found = Messages()
    for model in models_of(frames.AnyClientFrame):
        # Keyed apart: the client's `typing` frame and the server's `typing` event differ.
        found.client[type_of(model)] = found.add(
            f"client.{type_of(model)}", model, "Client to server."
        )
    for model in models_of(frames.AnyServerFrame):
        found.control[type_of(model)] = found.add(type_of(model), model)
    found.components["error"]["description"] = "Codes:\n\n" + error_codes_list()
    for persistent in models_of(events.AnyPersistent):
        assert issubclass(persistent, events.Persistent)
        reach = f"Reaches {AUDIENCE[persistent.audience]}."
        offset = " Persistent: carries the account's next gapless `offset`."
        found.persistent.append(found.add(type_of(persistent), persistent, reach + offset))
    for ephemeral in models_of(events.AnyEphemeral):
        assert issubclass(ephemeral, events.Ephemeral)
        reach = f"Reaches {AUDIENCE[ephemeral.audience]}. Ephemeral: no offset, at most once."
        found.ephemeral.append(found.add(type_of(ephemeral), ephemeral, reach))
    for message in models_of(presence_messages.PresenceMessage):
        key = f"presence.{type_of(message)}"
        found.presence.append(found.add(key, message, "Internal: clients never see it."))
    return found


def schemas() -> dict[str, Any]:
    """Every model's JSON Schema (and those they use), by name."""
    models: list[tuple[type[BaseModel], Mode]] = [
        *((m, "validation") for m in models_of(frames.AnyClientFrame)),
        *((m, "serialization") for m in models_of(frames.AnyServerFrame)),
        *((m, "serialization") for m in models_of(events.AnyPersistent)),
        *((m, "serialization") for m in models_of(events.AnyEphemeral)),
        *((m, "serialization") for m in models_of(presence_messages.PresenceMessage)),
    ]
    _, top = models_json_schema(models, ref_template=SCHEMAS + "{model}")
    found: dict[str, Any] = top["$defs"]
    received = {model.__name__ for model, mode in models if mode == "validation"}
    for name, schema in found.items():
        if name not in received and "properties" in schema:
            _as_written(schema)
    return dict(sorted(found.items()))


def _as_written(schema: dict[str, Any]) -> None:
    """What the services write, rather than what their models would accept.

    Every field is written, defaults and nulls too (events are encoded whole), except a
    frame's `ref`, written only when the client sent one. The models forbid unknown fields
    (a producer's typo fails where it is made), but a reader must ignore them: the contract
    grows by optional fields without a new `v`.
    """
    schema["required"] = [name for name in schema["properties"] if name != "ref"]
    schema.pop("additionalProperties", None)
