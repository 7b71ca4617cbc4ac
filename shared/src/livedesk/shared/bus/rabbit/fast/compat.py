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

import re
from collections.abc import Iterator, Mapping
from importlib import metadata
from types import ModuleType

import aio_pika
import aiormq
import pamqp.commands

# Distribution -> (first release checked, first release not covered).
TESTED_RELEASES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
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
    problems = [*_release_problems(releases), *_missing_names(modules)]
    return "; ".join(problems) or None


def installed_releases() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in TESTED_RELEASES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _release_problems(releases: Mapping[str, str | None]) -> Iterator[str]:
    for name, (lowest, uncovered) in TESTED_RELEASES.items():
        release = releases.get(name)
        if release is None:
            yield f"{name} is not installed"
            continue
        numbers = re.match(r"\d+(?:\.\d+)*", release)
        version = tuple(int(n) for n in numbers.group().split(".")) if numbers else ()
        if not lowest <= version < uncovered:
            checked = f"{_dotted(lowest)} up to {_dotted(uncovered)}"
            yield f"{name} {release} is outside the releases checked ({checked})"


def _missing_names(modules: Mapping[str, object]) -> Iterator[str]:
    for path in ATTRIBUTES:
        if _lookup(modules, path) is None:
            yield f"{path} is gone"
    for path, names in CODE_NAMES.items():
        code = getattr(_lookup(modules, path), "__code__", None)
        known = set(code.co_names) | set(code.co_varnames) if code is not None else set()
        if absent := [name for name in names if name not in known]:
            yield f"{path} no longer uses {', '.join(absent)}"


def _lookup(modules: Mapping[str, object], path: str) -> object | None:
    module, *attributes = path.split(".")
    found = modules.get(module)
    for attribute in attributes:
        found = getattr(found, attribute, None)
    return found


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


_MODULES: dict[str, ModuleType] = {"aiormq": aiormq, "pamqp": pamqp, "aio_pika": aio_pika}
FAST_PATH_PROBLEM: str | None = unsupported(_MODULES, installed_releases())
