"""Who may write which kind of message: the one rule every message write checks.

An agent (admins included) writes replies (`outgoing`) and notes; `incoming` is what a
contact writes, and no agent may write it as theirs. An admin's import (`Import`) carries
messages from elsewhere, of any kind and dated when they were first written; that the
caller is an admin is the route's check (the `Admin` dependency), the kinds are this one.
Not here: the writes themselves (each database's store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from livedesk.api.store.errors import StoreError
from livedesk.shared.events import MessageKind

AGENT_KINDS: Final = frozenset({MessageKind.OUTGOING, MessageKind.NOTE})


@dataclass(frozen=True, slots=True)
class Import:
    """A message imported by an admin: `created_at` its original time (None: now)."""

    created_at: datetime | None = None


class KindRefused(StoreError):
    """An agent asked to write a kind that is not theirs (`incoming`)."""

    def __init__(self, kind: MessageKind) -> None:
        allowed = " and ".join(sorted(kind.value for kind in AGENT_KINDS))
        super().__init__(
            f"agents write {allowed} messages; {kind.value} is the contact's "
            "(an admin imports one with POST /v1/conversations/{id}/messages:import)"
        )
        self.kind = kind


def check_kind(kind: MessageKind, imported: Import | None) -> None:
    """Raise `KindRefused` unless the writer may write `kind`."""
    if imported is None and kind not in AGENT_KINDS:
        raise KindRefused(kind)
