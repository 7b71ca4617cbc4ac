"""What each service may do on the broker, as RabbitMQ permissions built from `topology`'s names.

RabbitMQ grants a user, per vhost, three regular expressions over exchange and queue names:
`configure` (declare, delete), `write` (publish to an exchange; bind *to* a queue) and `read`
(consume a queue; bind *from* an exchange). Every service declares all the exchanges when it
connects (`rabbit.bus`), so each may configure them; beyond that:

    api       publishes events, availability (presence.in) and revocations (control);
              consumes nothing
    gateway   declares, binds and consumes its node queues (events, ephemeral, control);
              publishes to presence.in
    presence  declares, binds and consumes its queue and each replica's control queue
              (revocations) and replica queue (presence.in); publishes ephemeral events

A service's user may publish only where its messages belong, and the broker stamps who
published (AMQP user_id, checked against the login), so a gateway can refuse events that do
not come from the API's user (`gateway.fanout`). Not here: creating the users (`livedesk
broker-setup`), the names themselves (`topology`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from livedesk.shared.topology import (
    CONTROL,
    EPHEMERAL,
    EVENTS,
    EXCHANGES,
    NODE_QUEUE_PREFIX,
    PRESENCE_CONTROL_PREFIX,
    PRESENCE_IN,
    PRESENCE_QUEUE,
    PRESENCE_REPLICA_PREFIX,
)

# Matches no name: RabbitMQ's way of granting nothing.
NOTHING: Final = "^$"


@dataclass(frozen=True)
class Permissions:
    """One user's three regular expressions in one vhost, as RabbitMQ takes them."""

    configure: str
    write: str
    read: str


def names(*exact: str, prefixes: tuple[str, ...] = ()) -> str:
    """A regular expression matching the `exact` names and any name starting with a prefix."""
    alternatives = [re.escape(name) for name in exact]
    alternatives += [re.escape(prefix) + ".*" for prefix in prefixes]
    return "^(" + "|".join(alternatives) + ")$"


# Each presence replica's own queues: revocations, and its copy of presence.in.
_PRESENCE_OWN: Final = (PRESENCE_CONTROL_PREFIX, PRESENCE_REPLICA_PREFIX)

SERVICE_PERMISSIONS: Final[dict[str, Permissions]] = {
    "api": Permissions(
        configure=names(*EXCHANGES),
        write=names(EVENTS, PRESENCE_IN, CONTROL),
        read=NOTHING,
    ),
    "gateway": Permissions(
        configure=names(*EXCHANGES, prefixes=(NODE_QUEUE_PREFIX,)),
        write=names(PRESENCE_IN, prefixes=(NODE_QUEUE_PREFIX,)),
        read=names(EVENTS, EPHEMERAL, CONTROL, prefixes=(NODE_QUEUE_PREFIX,)),
    ),
    "presence": Permissions(
        configure=names(*EXCHANGES, PRESENCE_QUEUE, prefixes=_PRESENCE_OWN),
        write=names(EPHEMERAL, PRESENCE_QUEUE, prefixes=_PRESENCE_OWN),
        read=names(PRESENCE_IN, PRESENCE_QUEUE, CONTROL, prefixes=_PRESENCE_OWN),
    ),
}
SERVICES: Final = tuple(SERVICE_PERMISSIONS)
