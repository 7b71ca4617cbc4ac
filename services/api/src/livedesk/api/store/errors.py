"""What a write is refused for by what the database holds: each carries the data an answer
needs, and the routes (or `errors`' handler) turn it into the HTTP answer.

Not here: faults (a database that is away raises its driver's errors, which nobody catches
on purpose but the relay and the request boundary, which asks `database_unreachable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from asyncpg.exceptions import ConnectionDoesNotExistError, PostgresConnectionError
from sqlalchemy.exc import DBAPIError

from livedesk.api.schemas import Actor, ConversationOut
from livedesk.shared.errors import LivedeskError
from livedesk.shared.events import ConversationField

# What the PostgreSQL driver raises for a connection lost or refused by the server.
_LOST_CONNECTION: Final = (ConnectionDoesNotExistError, PostgresConnectionError)


def database_unreachable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or its connection was lost,
    as opposed to a query that failed (a missing table stays a defect: 500)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (OSError, TimeoutError, *_LOST_CONNECTION)):
            return True
        seen = seen.__cause__ or (seen.orig if isinstance(seen, DBAPIError) else None)
    return False


class StoreError(LivedeskError):
    """Base of the refusals below."""


class NotFound(StoreError):
    """No such record in the caller's account (another account's is not found either)."""

    def __init__(self, what: str, ident: int) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what, self.ident = what, ident


class AlreadyRegistered(StoreError):
    """A user's e-mail address is taken in this account (others' do not count)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is already registered")
        self.email = email


class VersionConflict(StoreError):
    """A conversation is not at the version the client saw: `conversation` is where it is
    (as the caller sees it), and `changed_by` and `changed` say who moved it last, and how."""

    def __init__(
        self,
        conversation: ConversationOut,
        expected: int,
        changed_by: Actor | None,
        changed: Sequence[ConversationField],
    ) -> None:
        super().__init__(f"conversation {conversation.id} is at version {conversation.version}")
        self.conversation, self.expected = conversation, expected
        self.changed_by, self.changed = changed_by, list(changed)

    @property
    def current(self) -> int:
        return self.conversation.version


class InvalidChange(StoreError):
    """A change whose values break a rule that depends on the data or the time (a snooze
    that ends in the past); `errors`' handler answers 422."""
