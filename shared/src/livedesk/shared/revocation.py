"""The internal order that ends sessions at once: `SessionsRevoked`, API -> every gateway.

The API publishes it on `livedesk.control` after the database says the sessions are revoked
(the database is the truth: refresh and REST read it there); each gateway closes the user's
matching sockets with 4401 and refuses those sessions' access tokens on new sockets until
`refuse_until`, when the last of them has expired anyway.

It is deliberately not an `events.Event`: it has no offset, is never logged or replayed,
and never reaches a client, so it stays out of the public event union and its documents.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from livedesk.shared import routing


class SessionsRevoked(BaseModel):
    # An undeclared field is a producer bug: fail where the message is built.
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sessions_revoked"] = "sessions_revoked"
    v: Literal[1] = 1
    account_id: int
    user_id: int
    session_ids: tuple[int, ...]
    # Every socket of the user, sessions or not (disabled, all revoked, password reset);
    # False: only sockets of `session_ids` (one logout, one stolen family).
    every_session: bool
    refuse_until: float  # seconds since the epoch: the revoked sessions' last token expiry

    def routing_key(self) -> str:
        return routing.agent_key(self.account_id, self.user_id, self.type)


_adapter: TypeAdapter[SessionsRevoked] = TypeAdapter(SessionsRevoked)


def encode_revocation(message: SessionsRevoked) -> bytes:
    return _adapter.dump_json(message)


def decode_revocation(body: bytes) -> SessionsRevoked:
    """Raises pydantic's ValidationError for anything else."""
    return _adapter.validate_json(body)
