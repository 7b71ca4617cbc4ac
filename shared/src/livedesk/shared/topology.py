"""The broker topology, declared in one place.

    livedesk.events      topic, durable   persistent events, published by the API's relay
    livedesk.ephemeral   topic, durable   typing and agent_status, published by presence
    livedesk.presence.in topic, durable   gateway -> presence messages
    livedesk.control     topic, durable   internal orders from the API (sessions revoked);
                                          every gateway binds it whole, no client sees it
    livedesk.presence    quorum queue, single active consumer, bound to presence.in with `#`
    node queues          one per gateway: exclusive, auto-delete, classic; bound per account

Quorum queues cannot be exclusive, so node queues are classic. They are named by the client
(`livedesk.node.<node>.<random>`) rather than by the server, so that the robust connection
can declare the same queue again after a reconnect and an operator can tell whose it is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Final

EVENTS: Final = "livedesk.events"
EPHEMERAL: Final = "livedesk.ephemeral"
PRESENCE_IN: Final = "livedesk.presence.in"
CONTROL: Final = "livedesk.control"
PRESENCE_QUEUE: Final = "livedesk.presence"
# Every gateway's node queue is named with this prefix (`node_queue`); broker permissions
# grant the gateway user the names that start with it.
NODE_QUEUE_PREFIX: Final = "livedesk.node."
PRESENCE_CONTROL_PREFIX: Final = "livedesk.presence-control."

EXCHANGES: Final = (EVENTS, EPHEMERAL, PRESENCE_IN, CONTROL)


@dataclass(frozen=True)
class QueueSpec:
    """What a consumer's queue is; each bus declares it in its own way."""

    name: str
    durable: bool
    exclusive: bool
    auto_delete: bool
    arguments: dict[str, Any] = field(default_factory=dict)
    bindings: tuple[tuple[str, str], ...] = ()  # (exchange, pattern) declared with the queue

    @property
    def single_active_consumer(self) -> bool:
        return bool(self.arguments.get("x-single-active-consumer"))


def presence_queue() -> QueueSpec:
    # Quorum + single active consumer: one presence replica is active, a standby takes over
    # when its consumer goes away, and messages survive a broker restart.
    return QueueSpec(
        name=PRESENCE_QUEUE,
        durable=True,
        exclusive=False,
        auto_delete=False,
        arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
        bindings=((PRESENCE_IN, "#"),),
    )


def node_queue(node_id: str) -> QueueSpec:
    # A dead node's queue goes with its connection, so nothing piles up for sockets that no
    # longer exist. Account bindings are added at run time; the control exchange is bound
    # whole, since a revoked token may come to any node.
    return _connections_own(f"{NODE_QUEUE_PREFIX}{node_id}.")


def presence_control_queue() -> QueueSpec:
    # Every presence replica's own (the presence queue has one active consumer; revocations
    # must reach a standby too, which answers reads).
    return _connections_own(PRESENCE_CONTROL_PREFIX)


def _connections_own(prefix: str) -> QueueSpec:
    """Exclusive and auto-delete, bound to the control exchange: lives with its connection."""
    return QueueSpec(
        name=f"{prefix}{secrets.token_hex(4)}",
        durable=False,
        exclusive=True,
        auto_delete=True,
        arguments={"x-queue-type": "classic"},
        bindings=((CONTROL, "#"),),
    )
