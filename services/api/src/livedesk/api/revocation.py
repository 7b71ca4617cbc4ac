"""Tell every API process and gateway that sessions were revoked, once the database says so.

Published straight to `livedesk.control` with a publisher confirm, not through the outbox:
the revocation is already durable in the database (what refresh and REST read), and the
message is a prompt for sockets, which an outbox relay would only delay behind the account's
events. If the broker does not take it, the caller answers 503: the revocation holds for
REST and refresh, and repeating the request (idempotent) repeats the message.

Not here: which sessions (the store), closing sockets (the gateways).
"""

from __future__ import annotations

from livedesk.api.access import SessionStates
from livedesk.api.errors import ApiError
from livedesk.api.store.sessions import Revoked
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.errors import BusError
from livedesk.shared.revocation import SessionsRevoked, encode_revocation
from livedesk.shared.topology import CONTROL


class Revoker:
    def __init__(self, bus: Bus, sessions: SessionStates, *, access_ttl_s: int) -> None:
        self._bus, self._sessions, self._access_ttl_s = bus, sessions, access_ttl_s

    async def announce(self, revoked: Revoked | None, *, every_session: bool) -> None:
        """In force in this process at once; on the gateways once the broker has it."""
        if revoked is None or not (revoked.session_ids or every_session):
            return
        self._sessions.revoked(revoked.session_ids)
        message = SessionsRevoked(
            account_id=revoked.account_id,
            user_id=revoked.user_id,
            session_ids=revoked.session_ids,
            every_session=every_session,
            # A token issued just before the revocation is the last to expire.
            refuse_until=revoked.at.timestamp() + self._access_ttl_s,
        )
        try:
            await self._bus.publish(
                Message(
                    CONTROL, message.routing_key(), encode_revocation(message), persistent=False
                )
            )
        except BusError:
            raise ApiError(
                503,
                "unavailable",
                "revoked, but open sockets could not be told yet; repeat the request",
            ) from None
