"""`livedesk asyncapi`: the AsyncAPI 3 document of /ws and of the broker, built from the code.

Every payload schema is a pydantic model's (asyncapi_messages.py: shared/events.py,
shared/presence_messages.py, gateway/frames.py), exchange names are shared/topology.py's,
routing keys are spelled with shared/routing.py's words, and close and error codes are
explained for every code protocol.py names (asyncapi_codes.py). docs/asyncapi.yaml is this
command's output and a test fails when the two differ, so the published document cannot drift
from what the services do.

The application the document describes is the Livedesk backend as a whole: on /ws it receives
the client frames and sends the rest; on the broker, the API and presence publish and the
gateways and presence consume.

Deliberately not here: the REST API (its OpenAPI is at /docs), the words of the guide
(docs/protocol.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from livedesk.cli.asyncapi_codes import close_codes_table
from livedesk.cli.asyncapi_messages import Messages, messages, schemas, type_of
from livedesk.shared import events, routing, topology

COMMAND: Final = "python3 dev.py asyncapi --output docs/asyncapi.yaml"
HEADER: Final = f"# Generated from the code by `livedesk asyncapi`: do not edit; run `{COMMAND}`.\n"
MESSAGES: Final = "#/components/messages/"
INFO: Final = """\
The real-time protocol of Livedesk: the WebSocket `/ws` that clients hold, and the messages
the services exchange through RabbitMQ. The guide for client authors is docs/protocol.md.

Every frame is a JSON text frame, one object with a `type`. Persistent events carry the
account's gapless `offset`; a client resumes from the last one it has (`auth.resume_from`)
and receives everything after it, then the live stream, with no gap and no duplicate.
Readers ignore fields and frame types they do not know: the protocol grows by adding them."""


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
    found = messages()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Livedesk real-time protocol",
            "version": str(events.VERSION),
            "description": INFO,
        },
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": _channels(found),
        "operations": _operations(found),
        "components": {"schemas": schemas(), "messages": found.components},
    }


def _channels(found: Messages) -> dict[str, Any]:
    account = f"{routing.ACCOUNT}.{{account_id}}"
    conversation = f"{account}.{routing.CONVERSATION}.{{conversation_id}}"
    typing, agent_status = type_of(events.Typing), type_of(events.AgentStatusChanged)
    socket = [*found.client.values(), *found.control.values(), *found.persistent]
    return {
        "socket": {
            "address": "/ws",
            "title": "The WebSocket a client holds",
            "servers": [{"$ref": "#/servers/gateway"}, {"$ref": "#/servers/standalone"}],
            "description": _socket_description(),
            "messages": _channel_messages([*socket, *found.ephemeral]),
        },
        "events": {
            "address": f"{conversation}.{{event_type}}",
            "title": f"Persistent events on `{topology.EVENTS}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": (
                "Published by the API's relay with publisher confirms, after the commit that "
                "gave each its offset. Each gateway binds its own queue (exclusive, "
                f"auto-delete) with `{account}.#` while it holds a socket of the account."
            ),
            "parameters": _parameters(
                account_id="the event's account",
                conversation_id="the conversation the event is about",
                event_type="the event's `type`",
            ),
            "messages": _channel_messages(found.persistent),
            "bindings": _exchange(topology.EVENTS),
        },
        "typing": {
            "address": f"{conversation}.{typing}",
            "title": f"Typing on `{topology.EPHEMERAL}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": "Published by presence: each start, and the one stop that ends "
            "every indicator (on stop, time-to-live or disconnect).",
            "parameters": _parameters(
                account_id="the account", conversation_id="the conversation typed in"
            ),
            "messages": _channel_messages([typing]),
            "bindings": _exchange(topology.EPHEMERAL),
        },
        "agentStatus": {
            "address": f"{account}.{routing.AGENT}.{{user_id}}.{agent_status}",
            "title": f"Agent status on `{topology.EPHEMERAL}`",
            "servers": [{"$ref": "#/servers/broker"}],
            "description": "Published by presence when an agent's status changes.",
            "parameters": _parameters(account_id="the account", user_id="the agent"),
            "messages": _channel_messages([agent_status]),
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
            "messages": _channel_messages(found.presence),
            "bindings": _exchange(topology.PRESENCE_IN),
        },
    }


def _channel_messages(keys: Iterable[str]) -> dict[str, Any]:
    return {key: {"$ref": MESSAGES + key} for key in keys}


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


def _operations(found: Messages) -> dict[str, Any]:
    def operation(
        action: str, channel: str, keys: Iterable[str], summary: str, reply: Sequence[str] = ()
    ) -> dict[str, Any]:
        described: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": _refs(f"#/channels/{channel}/messages/", list(keys)),
        }
        if reply:
            described["reply"] = {
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": _refs(f"#/channels/{channel}/messages/", reply),
            }
        return described

    client, c = found.client, found.control
    persistent, ephemeral, presence = found.persistent, found.ephemeral, found.presence
    typing, agent_status = type_of(events.Typing), type_of(events.AgentStatusChanged)
    return {
        "receiveAuth": operation(
            "receive",
            "socket",
            [client["auth"]],
            "Authenticate, or renew the token of a live socket",
            [c["ready"], c["auth_renewed"], c["error"]],
        ),
        "receiveSubscribe": operation(
            "receive",
            "socket",
            [client["subscribe"]],
            "Hear typing of a conversation",
            [c["subscribed"], c["error"]],
        ),
        "receiveUnsubscribe": operation(
            "receive",
            "socket",
            [client["unsubscribe"]],
            "Stop hearing typing of a conversation",
            [c["unsubscribed"]],
        ),
        "receiveTyping": operation(
            "receive", "socket", [client[typing]], "The user types, or stopped"
        ),
        "receivePing": operation("receive", "socket", [client["ping"]], "Ping", [c["pong"]]),
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
        "publishTyping": operation("send", "typing", [typing], "Presence publishes"),
        "consumeTyping": operation("receive", "typing", [typing], "Gateways consume"),
        "publishAgentStatus": operation(
            "send", "agentStatus", [agent_status], "Presence publishes"
        ),
        "consumeAgentStatus": operation(
            "receive", "agentStatus", [agent_status], "Gateways consume"
        ),
        "publishToPresence": operation(
            "send", "presenceIn", presence, "Gateways and the API publish"
        ),
        "consumeToPresence": operation(
            "receive", "presenceIn", presence, "The active presence replica consumes"
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
