"""Every socket's deadlines, checked by one task for the whole node: the auth deadline, the
token's expiry, pings, and how far a socket lags behind its send queue.

Auth deadlines and pings are kept on the monotonic clock and token expiries on the wall clock
(as the session checks them), each in a `Deadlines` heap, so a sweep costs what is due; the
session or the socket decides whether one popped is really due. Lag is looked at only for
sockets with frames waiting. An idle socket has no task or timer of its own.

Not here: what a close does (the node's `kick`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection
from typing import Final

from livedesk.gateway import protocol
from livedesk.gateway.account import Client
from livedesk.gateway.clock import Clock
from livedesk.gateway.sockets import OutFrame
from livedesk.shared.deadlines import Deadlines

# Deadlines are whole seconds in the protocol; checking twice a second is precise enough.
SWEEP_INTERVAL_S: Final = 0.5
# Pings sent before the sweeper lets the loop turn, so that events arriving meanwhile do not
# wait behind all of a sweep's pings.
PINGS_PER_TURN: Final = 16

Kick = Callable[[Client, int, str], None]
Send = Callable[[Client, OutFrame], object]


class Sweeper:
    def __init__(self, clock: Clock, clients: Collection[Client], send: Send, kick: Kick) -> None:
        self._clock, self._clients, self._send, self._kick = clock, clients, send, kick
        self._auth_deadlines: Deadlines[Client] = Deadlines()  # clock.monotonic()
        self._expiries: Deadlines[Client] = Deadlines()  # clock.wall(), as token expiry is
        self._pings: Deadlines[Client] = Deadlines()  # clock.monotonic()

    def watch(self, client: Client) -> None:
        """A new socket: its auth deadline, and a ping check now (the socket says when due)."""
        self._auth_deadlines.schedule(client, client.session.auth_deadline)
        self._pings.schedule(client, self._clock.monotonic())

    def expires(self, client: Client, at: float) -> None:
        self._expiries.schedule(client, at)

    def forget(self, client: Client) -> None:
        self._auth_deadlines.cancel(client)
        self._expiries.cancel(client)
        self._pings.cancel(client)

    async def run(self) -> None:
        """Close sockets past their auth deadline or token expiry, deaf to pings, or behind
        by more than the send queue's lag (also when nothing more is sent to them); ping the
        others when due."""
        while True:
            await self._clock.sleep(SWEEP_INTERVAL_S)
            now, wall = self._clock.monotonic(), self._clock.wall()
            for _, client in (*self._auth_deadlines.pop_due(now), *self._expiries.pop_due(wall)):
                if client.closing:
                    continue
                decision = client.session.deadline(now, wall)
                if decision is not None:
                    if decision.frame is not None:
                        self._send(client, OutFrame(decision.frame))
                    self._kick(client, decision.code, decision.reason)
            for index, (_, client) in enumerate(self._pings.pop_due(now)):
                if index and not index % PINGS_PER_TURN:
                    await asyncio.sleep(0)  # events that arrived meanwhile go out first
                if client.closing:
                    continue
                next_due = client.socket.keepalive(now)
                if next_due is None:
                    self._kick(client, protocol.CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
                elif next_due != math.inf:
                    self._pings.schedule(client, next_due)
            for client in [c for c in self._clients if c.queue.waiting and not c.closing]:
                if client.queue.overdue(client.socket.buffered()):
                    self._kick(client, protocol.CLOSE_TOO_SLOW, "too slow to read")
