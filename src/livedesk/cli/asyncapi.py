"""`livedesk asyncapi`: the AsyncAPI 3 document of /ws and of the broker, built from the code.

Every payload schema is a pydantic model's (shared/events.py, shared/presence_messages.py,
gateway/frames.py), exchange names are shared/topology.py's, routing keys are spelled with
shared/routing.py's words, and close and error codes are explained for every code protocol.py
names (asyncapi_codes.py). docs/asyncapi.yaml is this command's output and a test fails when
the two differ, so the published document cannot drift from what the services do.

The application the document describes is the Livedesk backend as a whole: on /ws it receives
the client frames and sends the rest; on the broker, the API and presence publish and the
gateways and presence consume.

Deliberately not here: the REST API (its OpenAPI is at /docs), the words of the guide
(docs/protocol.md).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal, get_args

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from livedesk.cli.asyncapi_codes import close_codes_table, error_codes_list
from livedesk.gateway import frames
from livedesk.shared import events, presence_messages, routing, topology
from livedesk.shared.events import Audience

COMMAND: Final = "python3 dev.py asyncapi --output docs/asyncapi.yaml"
HEADER: Final = f"# Generated from the code by `livedesk asyncapi`: do not edit; run `{COMMAND}`.\n"
SCHEMAS: Final = "#/components/schemas/"

Mode = Literal["validation", "serialization"]
AUDIENCE: Final = {
    Audience.ACCOUNT: "every socket of the account",
    Audience.SUBSCRIBERS: "the sockets subscribed to the conversation",
    Audience.SOCKET: "only the socket it is sent to",
}
INFO: Final = """\
The real-time protocol of Livedesk: the WebSocket `/ws` that clients hold, and the messages
the services exchange through RabbitMQ. The guide for client authors is docs/protocol.md.

Every frame is a JSON text frame, one object with a `type`. Persistent events carry the
account's gapless `offset`; a client resumes from the last one it has (`auth.resume_from`)
and receives everything after it, then the live stream, with no gap and no duplicate."""


def _models(union: object) -> tuple[type[BaseModel], ...]:
    """The models of a union, or of an `Annotated` union (a discriminated one)."""
    args = get_args(union)
    inner = get_args(args[0])
    return inner or args


def _type_of(model: type[BaseModel]) -> str:
    default = model.model_fields["type"].default
    assert isinstance(default, str), model
    return default


def _client_type_of(model: type[BaseModel]) -> str:
    # Client frames have no default `type` (a client must say it): read the Literal's value.
    (value,) = model.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
    assert isinstance(value, str), model
    return value


def _summary(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


class Document:
    """The pieces of the document, filled in one pass over the models."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}

    def add(self, key: str, model: type[BaseModel], title: str, description: str = "") -> str:
        message: dict[str, Any] = {"name": title, "title": title}
        if summary := _summary(model):
            message["summary"] = summary
        if description:
            message["description"] = description
        message["payload"] = {"$ref": SCHEMAS + model.__name__}
        self.messages[key] = message
        return key


def _schemas(models: Iterable[tuple[type[BaseModel], Mode]]) -> dict[str, Any]:
    models = list(models)
    _, top = models_json_schema(models, ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Any] = top["$defs"]
    received = {model.__name__ for model, mode in models if mode == "validation"}
    for name, schema in schemas.items():
        if name not in received and "properties" in schema:
            _as_written(schema)
    return dict(sorted(schemas.items()))


def _as_written(schema: dict[str, Any]) -> None:
    """What the services write, rather than what their models would accept.

    Every field is written, defaults and nulls too (events are encoded whole), except a
    frame's `ref`, written only when the client sent one. The models forbid unknown fields
    (a producer's typo fails where it is made), but a reader must ignore them: the contract
    grows by optional fields without a new `v`.
    """
    schema["required"] = [name for name in schema["properties"] if name != "ref"]
    schema.pop("additionalProperties", None)


def _refs(prefix: str, keys: Sequence[str]) -> list[dict[str, str]]:
    return [{"$ref": f"{prefix}{key}"} for key in keys]


def _exchange(name: str) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": name, "type": "topic", "durable": True, "autoDelete": False},
            "bindingVersion": "0.3.0",
        }
    }


def _parameters(**described: str) -> dict[str, Any]:
    return {name: {"description": text} for name, text in described.items()}


def build() -> dict[str, Any]:
    """The whole document, as a plain structure ready for YAML."""
    doc = Document()
    client = [
        doc.add(f"client.{_client_type_of(m)}", m, _client_type_of(m), "Client to server.")
        for m in _models(frames.AnyClientFrame)
    ]
    control = {
        _type_of(m): doc.add(_type_of(m), m, _type_of(m)) for m in _models(frames.AnyServerFrame)
    }
    doc.messages["error"]["description"] = "Codes:\n\n" + error_codes_list()
    persistent, ephemeral = [], []
    for model in (*_models(events.AnyPersistent), *_models(events.AnyEphemeral)):
        kind = _type_of(model)
        assert issubclass(model, events.Persistent | events.Ephemeral)
        reach = f"Reaches {AUDIENCE[model.audience]}."
        if kind in events.PERSISTENT_TYPES:
            reach += " Persistent: carries the account's next gapless `offset`."
            persistent.append(doc.add(kind, model, kind, reach))
        else:
            reach += " Ephemeral: no offset, at most once."
            ephemeral.append(doc.add(kind, model, kind, reach))
    node_messages = [
        doc.add(f"presence.{_type_of(m)}", m, _type_of(m), "Internal: clients never see it.")
        for m in _models(presence_messages.PresenceMessage)
    ]
    schemas = _schemas(
        [
            *((m, "validation") for m in _models(frames.AnyClientFrame)),
            *((m, "serialization") for m in _models(frames.AnyServerFrame)),
            *((m, "serialization") for m in _models(events.AnyPersistent)),
            *((m, "serialization") for m in _models(events.AnyEphemeral)),
            *((m, "serialization") for m in _models(presence_messages.PresenceMessage)),
        ]
    )
    messages = "#/components/messages/"
    socket_messages = [*client, *control.values(), *persistent, *ephemeral]
    account = f"{routing.ACCOUNT}.{{account_id}}"
    channels: dict[str, Any] = {
        "socket": {
            "address": "/ws",
            "title": "The WebSocket a client holds",
            "servers": [{"$ref": "#/servers/gateway"}, {"$ref": "#/servers/standalone"}],
            "description": _socket_description(),
            "messages": {key: {"$ref": messages + key} for key in socket_messages},
        },
        "events": {
            "address": f"{account}.{routing.CONVERSATION}.{{conversation_id}}.{{event_type}}",
            "title": f"Persistent events on `{topology.EVENTS}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": (
                "Published by the API's relay with publisher confirms, after the commit that "
                "gave each its offset. Each gateway binds its own queue (exclusive, "
                f"auto-delete) with `{account}.#` "
                "while it holds a socket of the account."
            ),
            "parameters": _parameters(
                account_id="the event's account",
                conversation_id="the conversation the event is about",
                event_type="the event's `type`",
            ),
            "messages": {key: {"$ref": messages + key} for key in persistent},
            "bindings": _exchange(topology.EVENTS),
        },
        "typing": {
            "address": f"{account}.{routing.CONVERSATION}.{{conversation_id}}.typing",
            "title": f"Typing on `{topology.EPHEMERAL}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": "Published by presence: each start, and the one stop that ends "
            "every indicator (on stop, time-to-live or disconnect).",
            "parameters": _parameters(
                account_id="the account", conversation_id="the conversation typed in"
            ),
            "messages": {"typing": {"$ref": messages + "typing"}},
            "bindings": _exchange(topology.EPHEMERAL),
        },
        "agentStatus": {
            "address": f"{account}.{routing.AGENT}.{{user_id}}.agent_status",
            "title": f"Agent status on `{topology.EPHEMERAL}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": "Published by presence when an agent's status changes.",
            "parameters": _parameters(account_id="the account", user_id="the agent"),
            "messages": {"agent_status": {"$ref": messages + "agent_status"}},
            "bindings": _exchange(topology.EPHEMERAL),
        },
        "presenceIn": {
            "address": f"{routing.NODE}.{{node}}.{{message_type}}",
            "title": f"Gateways and the API to presence, on `{topology.PRESENCE_IN}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": (
                f"Consumed from the quorum queue `{topology.PRESENCE_QUEUE}` (bound with `#`, "
                "single active consumer: one presence replica works, the others stand by). "
                "Presence rebuilds who is online from these alone."
            ),
            "parameters": _parameters(
                node="the sending gateway node (or API replica)",
                message_type="the message's `type`",
            ),
            "messages": {key: {"$ref": messages + key} for key in node_messages},
            "bindings": _exchange(topology.PRESENCE_IN),
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Livedesk real-time protocol",
            "version": str(events.VERSION),
            "description": INFO,
        },
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": channels,
        "operations": _operations(client, control, persistent, ephemeral, node_messages),
        "components": {"schemas": schemas, "messages": doc.messages},
    }


def _servers() -> dict[str, Any]:
    return {
        "gateway": {
            "host": "127.0.0.1:8200",
            "protocol": "ws",
            "pathname": "/ws",
            "description": "A gateway node (`livedesk gateway`, default port 8200); in "
            "production a TLS load balancer (`wss`) in front of several.",
        },
        "standalone": {
            "host": "127.0.0.1:8000",
            "protocol": "ws",
            "pathname": "/ws",
            "description": "`livedesk standalone`: the same /ws in one process.",
        },
        "broker": {
            "host": "127.0.0.1:5672",
            "protocol": "amqp",
            "protocolVersion": "0-9-1",
            "description": "RabbitMQ. The URL's path names the vhost: one per stack, since "
            "exchange and queue names are fixed.",
        },
    }


def _operations(
    client: list[str],
    control: dict[str, str],
    persistent: list[str],
    ephemeral: list[str],
    node_messages: list[str],
) -> dict[str, Any]:
    def operation(
        action: str, channel: str, keys: Iterable[str], summary: str, reply: Sequence[str] = ()
    ) -> dict[str, Any]:
        found: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": _refs(f"#/channels/{channel}/messages/", list(keys)),
        }
        if reply:
            found["reply"] = {
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": _refs(f"#/channels/{channel}/messages/", reply),
            }
        return found

    auth, subscribe, unsubscribe, typing, ping = client
    c = control
    return {
        "receiveAuth": operation(
            "receive",
            "socket",
            [auth],
            "Authenticate, or renew the token of a live socket",
            [c["ready"], c["auth_renewed"], c["error"]],
        ),
        "receiveSubscribe": operation(
            "receive",
            "socket",
            [subscribe],
            "Hear typing of a conversation",
            [c["subscribed"], c["error"]],
        ),
        "receiveUnsubscribe": operation(
            "receive",
            "socket",
            [unsubscribe],
            "Stop hearing typing of a conversation",
            [c["unsubscribed"]],
        ),
        "receiveTyping": operation("receive", "socket", [typing], "The user types, or stopped"),
        "receivePing": operation("receive", "socket", [ping], "Ping", [c["pong"]]),
        "sendEvents": operation(
            "send", "socket", [*persistent, *ephemeral], "Events of the account"
        ),
        "sendNotices": operation(
            "send",
            "socket",
            [c["resync_required"], c["reconnect"], c["error"]],
            "Resync, drain hints and errors the server sends unasked",
        ),
        "publishEvents": operation("send", "events", persistent, "The API's relay publishes"),
        "consumeEvents": operation("receive", "events", persistent, "Gateways consume"),
        "publishTyping": operation("send", "typing", ["typing"], "Presence publishes"),
        "consumeTyping": operation("receive", "typing", ["typing"], "Gateways consume"),
        "publishAgentStatus": operation(
            "send", "agentStatus", ["agent_status"], "Presence publishes"
        ),
        "consumeAgentStatus": operation(
            "receive", "agentStatus", ["agent_status"], "Gateways consume"
        ),
        "publishToPresence": operation(
            "send", "presenceIn", node_messages, "Gateways and the API publish"
        ),
        "consumeToPresence": operation(
            "receive", "presenceIn", node_messages, "The active presence replica consumes"
        ),
    }


def _socket_description() -> str:
    return (
        "Open it, send `auth` within 10 s, wait for `ready`; then events arrive. Every "
        "frame is one JSON object (text frame) with a `type`; a client may put `ref` on any "
        "frame and the reply carries it.\n\n"
        "Close codes:\n\n" + close_codes_table()
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the prose reads as written."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render() -> str:
    body = yaml.dump(build(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def run(output: str | None) -> int:
    text = render()
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)
    return 0
