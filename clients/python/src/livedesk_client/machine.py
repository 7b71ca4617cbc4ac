"""The connection's state machine, sans-I/O: what a close means and what to do next.

States: `connecting` (a socket is being opened and authenticated), `open` (after `ready`),
`reconnecting` (waiting the back-off delay before the next try) and `offline` (stopped for
good: closed by the application or refused for a reason retrying cannot fix). Every change is
reported to the application's callback with the delay before the next try.

A close is answered with `Retry` or `Stop`:
- 4401 with reason `token_expired`: retry with a fresh token from the provider;
- 4401 otherwise (the token is invalid) and 4403 (forbidden): stop, retrying cannot help;
- a `reconnect` drain hint, 1001 and every other code or a failed connection: retry after the
  back-off delay, on the next URL (the node may be gone; with one URL behind a proxy, the
  proxy picks another).

Deliberately not here: sockets, timers, tokens (client.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from livedesk_client.backoff import Backoff

CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
# The reason a gateway gives with 4401 when the token has expired (and only then).
REASON_TOKEN_EXPIRED: Final = "token_expired"


class State(StrEnum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float
    renew_token: bool  # ask the token provider again before the next `auth`
    next_url: bool  # try the next URL of the list


@dataclass(frozen=True, slots=True)
class Stop:
    reason: str


StateCallback = Callable[[State, float | None], None]


class Machine:
    """The state of one client's connection, and the decision after each close."""

    def __init__(self, backoff: Backoff, on_state: StateCallback | None = None) -> None:
        self.backoff = backoff
        self.state = State.OFFLINE
        self._on_state = on_state

    def connecting(self) -> None:
        self._move(State.CONNECTING, None)

    def opened(self) -> None:
        """`ready` arrived: the connection works, so the next failure starts a new schedule."""
        self.backoff.reset()
        self._move(State.OPEN, None)

    def closed(self, code: int | None, reason: str) -> Retry | Stop:
        """The socket closed (or never opened: `code` None) with `code` and `reason`."""
        if code == CLOSE_FORBIDDEN:
            return self._stop(f"forbidden: {reason or 'closed with 4403'}")
        if code == CLOSE_UNAUTHENTICATED and reason != REASON_TOKEN_EXPIRED:
            return self._stop(f"not authenticated: {reason or 'closed with 4401'}")
        renew = code == CLOSE_UNAUTHENTICATED
        retry = Retry(self.backoff.next_delay_s(), renew_token=renew, next_url=not renew)
        self._move(State.RECONNECTING, retry.delay_s)
        return retry

    def stopped(self) -> None:
        """The application closed the client."""
        self._move(State.OFFLINE, None)

    def _stop(self, reason: str) -> Stop:
        self._move(State.OFFLINE, None)
        return Stop(reason)

    def _move(self, state: State, delay_s: float | None) -> None:
        if state is self.state and state is not State.RECONNECTING:
            return
        self.state = state
        if self._on_state is not None:
            self._on_state(state, delay_s)
