"""Whether what the fast path takes from aiormq, pamqp and aio-pika beyond their public API
is still there: checked once, at import.

The fast path (this package) writes and parses frames past aiormq and keeps state aiormq
owns (a channel's publish count, its socket). That was checked against the releases in
`TESTED_RELEASES`, which shared/pyproject.toml declares as compatible-release bounds; an
install outside them (another lock, `--no-deps`), or one where a name below is gone, gets
`FAST_PATH_PROBLEM`, a sentence saying what differs, and the bus runs on aio-pika's plain
path (`rabbit.bus`). Attributes an instance gets in `__init__` have no class attribute to
look up: they are looked for among the names that `__init__`'s code stores or takes.

What no name can show (aiormq reading the socket only through the StreamReader it is
given, keeping no state of its own from a Deliver, its stuck-connection clock counting
frames read) rests on the release bounds and on the tests each module's docstring names.
Why the path exists and when to delete it: docs/adr/0001-fast-publish-path.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import aio_pika
import aiormq
import pamqp.commands

from livedesk.shared.library_check import (
    Releases,
    installed_releases,
    missing_names,
    release_problems,
)

# Distribution -> (first release checked, first release not covered).
TESTED_RELEASES: Releases = {
    "aiormq": ((7, 2, 4), (7, 3)),
    "pamqp": ((4, 0, 1), (4, 1)),
    "aio-pika": ((10, 2), (11,)),
}

# Looked up from the modules by import name, with the fast module that needs each.
ATTRIBUTES: tuple[str, ...] = (
    "aiormq.TransportFactory.create",  # transport: the bus opens aiormq's sockets
    "aiormq.Channel.closing",  # transport: a channel's close fails its confirm tracker
    "aiormq.Channel.is_closed",  # amqp_frames, publish_confirms
    "aiormq.Channel.loop",  # publish_confirms: a batch's future
    "aiormq.exceptions.AMQPConnectionError",  # transport, consumer
    "aiormq.exceptions.ChannelInvalidStateError",  # consumer
    "aiormq.exceptions.ChannelClosed",  # consumer
    "aiormq.abc.DeliveredMessage",  # consumer: a delivery the route did not take
    "pamqp.commands.Basic.Deliver",  # consumer
    "pamqp.commands.Basic.Cancel",  # consumer: a broker-side cancel
    "pamqp.commands.Basic.Properties.user_id",  # consumer: who published a delivery
    "aio_pika.RobustConnection",  # transport: LeanRobustConnection
)
# "<class>.<method>": names its code must store or take.
CODE_NAMES: dict[str, tuple[str, ...]] = {
    # publish_confirms numbers batches on from delivery_tag and cuts bodies at
    # max_content_size; consumer adds its cancel callback.
    "aiormq.Channel.__init__": (
        "delivery_tag",
        "max_content_size",
        "number",
        "publisher_confirms",
        "on_consumer_cancel_callbacks",
    ),
    "aiormq.Connection.__init__": ("transport_factory",),  # transport
    # transport: aio-pika hands its `kwargs` to aiormq on every (re)connect.
    "aio_pika.Connection.__init__": ("kwargs",),
    "aio_pika.Connection.connect": ("kwargs",),
}


def unsupported(modules: Mapping[str, object], releases: Mapping[str, str | None]) -> str | None:
    """What the fast path relies on and does not find (None: nothing is missing).

    `modules` by import name (aiormq, pamqp, aio_pika), `releases` by distribution name
    (None: not installed).
    """
    problems = [
        *release_problems(TESTED_RELEASES, releases),
        *missing_names(modules, ATTRIBUTES, CODE_NAMES),
    ]
    return "; ".join(problems) or None


_MODULES: dict[str, ModuleType] = {"aiormq": aiormq, "pamqp": pamqp, "aio_pika": aio_pika}
FAST_PATH_PROBLEM: str | None = unsupported(_MODULES, installed_releases(TESTED_RELEASES))
