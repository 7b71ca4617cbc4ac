"""The sessions a gateway refuses on new sockets, and presence on its reads: those revoked
while their tokens may live.

Filled from `SessionsRevoked` orders on livedesk.control; each session is kept until its
`refuse_until` (revoked + the access TTL: no token of it is valid after), and at most
`max_sessions` are kept (the oldest go first), so the list is bounded in time and size. Only
a node's orders received while it was connected are known: one that starts (or reconnects)
after a revocation trusts the token until its expiry, as the API's REST check does not.
Sans-I/O: time is passed in.

Not here: closing open sockets (the gateway's node.py), tokens without a session (nothing
to name). Gateways and presence each keep one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from livedesk.shared.revocation import SessionsRevoked
from livedesk.shared.tokens import Claims

# Revocations are rare (logouts, disabled agents): 100,000 is days of them, a few MB.
DEFAULT_MAX_SESSIONS: Final = 100_000


def ends(order: SessionsRevoked, user_id: int, claims: Claims | None) -> bool:
    """Whether the order ends a socket of `user_id` authenticated with `claims`."""
    if claims is None or user_id != order.user_id:
        return False
    return order.every_session or claims.session_id in order.session_ids


class Revocations:
    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self._max = max_sessions
        self._until: OrderedDict[int, float] = OrderedDict()  # session -> refuse until (wall)

    def add(self, order: SessionsRevoked, now: float) -> None:
        self._expire(now)
        for session_id in order.session_ids:
            self._until[session_id] = order.refuse_until
            self._until.move_to_end(session_id)
        while len(self._until) > self._max:
            self._until.popitem(last=False)

    def refuses(self, claims: Claims, now: float) -> bool:
        if claims.session_id is None:
            return False
        until = self._until.get(claims.session_id)
        return until is not None and now < until

    def _expire(self, now: float) -> None:
        """Drop the oldest while they are over: orders arrive in about `refuse_until` order."""
        while self._until:
            session_id, until = next(iter(self._until.items()))
            if until > now:
                return
            del self._until[session_id]

    def __len__(self) -> int:
        return len(self._until)
