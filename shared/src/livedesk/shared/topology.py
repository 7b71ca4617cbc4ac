"""The broker topology, declared in one place.

    livedesk.events      topic, durable   persistent events, published by the API's relay
    livedesk.ephemeral   topic, durable   typing and agent_status, published by presence
    livedesk.presence.in topic, durable   gateway -> presence messages
    livedesk.control     topic, durable   internal orders from the API (sessions revoked);
                                          every gateway binds it whole, no client sees it
    livedesk.presence    quorum queue, single active consumer, bound to presence.in with `#`:
                         whichever replica it delivers to is the one that announces
    replica queues       one per presence replica: exclusive, auto-delete, classic, bound to
                         presence.in with `#`; every replica builds its state from its own
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
PRESENCE_REPLICA_PREFIX: Final = "livedesk.presence-replica."

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
    # Quorum + single active consumer: the broker picks one presence replica to announce, and
    # the next one the moment its consumer goes away. Its deliveries only tell a replica that
    # it is the one (`presence.lease`); state is built from `presence_replica_queue`.
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
    return _connections_own(f"{NODE_QUEUE_PREFIX}{node_id}.", CONTROL)


def presence_control_queue() -> QueueSpec:
    # Every presence replica's own (the presence queue has one active consumer; revocations
    # must reach a standby too, which answers reads).
    return _connections_own(PRESENCE_CONTROL_PREFIX, CONTROL)


def presence_replica_queue() -> QueueSpec:
    # Every presence replica's own copy of what gateways and the API send, so that a standby
    # holds the same state as the active replica: it answers reads and takes over warm.
    return _connections_own(PRESENCE_REPLICA_PREFIX, PRESENCE_IN)


def _connections_own(prefix: str, exchange: str) -> QueueSpec:
    """Exclusive and auto-delete, bound to `exchange` whole: lives with its connection."""
    return QueueSpec(
        name=f"{prefix}{secrets.token_hex(4)}",
        durable=False,
        exclusive=True,
        auto_delete=True,
        arguments={"x-queue-type": "classic"},
        bindings=((exchange, "#"),),
    )
