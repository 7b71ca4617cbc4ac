"""Publishes whose caller stopped waiting before the broker confirmed them, so that a retry
of the same messages waits for those confirms instead of sending the messages again.

The relay gives a round a few seconds (`relay_publish_timeout_s`) and then tries the same
events again. During a broker alarm the broker reads nothing for minutes: a retry that wrote
its batch again would add a copy to what the process holds, and when the alarm clears every
copy would reach the consumers. Here a publish given up on stays on record with its
confirm future; a later publish of an equal message (same exchange, routing key, body and
persistence) takes over that copy's confirm rather than sending another. A copy confirmed
after its caller left stays on record for `keep_confirmed_s`, for the retry that comes
after the confirm. A copy whose publish failed (a nack, its channel closed) leaves the
record: a retry sends it again.

Equal messages are one message here while a copy is on record, as they are to a consumer
that drops what it has seen: a retry of one copy is answered by the other's confirm.

Sans-I/O but for the futures: the bus claims before it sends and records what it gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from livedesk.shared.bus.base import Message


@dataclass(eq=False, slots=True)
class Copy:
    """One abandoned publish of some messages, and its confirm."""

    confirmed: asyncio.Future[None]
    messages: Sequence[Message]
    confirmed_at_s: float | None = None


@dataclass(slots=True)
class Claims:
    """What a publish must still send, and the earlier copies it waits for instead."""

    fresh: list[Message]
    taken: list[tuple[Message, Copy]] = field(default_factory=list)

    def waits(self) -> list[asyncio.Future[None]]:
        futures = {id(copy.confirmed): copy.confirmed for _, copy in self.taken}
        return list(futures.values())


class AbandonedPublishes:
    def __init__(self, clock: Callable[[], float], keep_confirmed_s: float) -> None:
        self._clock = clock
        self._keep_confirmed_s = keep_confirmed_s
        # Message -> the copies of it on record, oldest first.
        self._copies: dict[Message, list[Copy]] = {}

    def __len__(self) -> int:
        """How many messages are on record."""
        return sum(len(copies) for copies in self._copies.values())

    def claim(self, messages: Sequence[Message]) -> Claims:
        """Split `messages` into those to send and the copies on record that stand for the
        others; each copy stands for one message."""
        if not self._copies:  # the usual case: nothing was given up
            return Claims(list(messages))
        self._forget_expired()
        claims = Claims([])
        for message in messages:
            copies = self._copies.get(message)
            if not copies:
                claims.fresh.append(message)
                continue
            claims.taken.append((message, copies.pop(0)))
            if not copies:
                del self._copies[message]
        return claims

    def give_back(self, claims: Claims) -> None:
        """The publish that claimed these gave up too: its copies stay on record."""
        for message, copy in claims.taken:
            if not _failed(copy.confirmed):
                self._copies.setdefault(message, []).insert(0, copy)

    def abandon(self, messages: Sequence[Message], confirmed: asyncio.Future[None]) -> None:
        """The caller of this publish of `messages` stopped waiting for `confirmed`."""
        if _failed(confirmed):
            return
        copy = Copy(confirmed, messages)
        for message in messages:
            self._copies.setdefault(message, []).append(copy)
        confirmed.add_done_callback(lambda _: self._settled(copy))

    def _settled(self, copy: Copy) -> None:
        if _failed(copy.confirmed):
            self._forget(copy)
        else:
            copy.confirmed_at_s = self._clock()

    def _forget_expired(self) -> None:
        now_s = self._clock()
        expired = {
            copy
            for copies in self._copies.values()
            for copy in copies
            if copy.confirmed_at_s is not None
            and now_s - copy.confirmed_at_s >= self._keep_confirmed_s
        }
        for copy in expired:
            self._forget(copy)

    def _forget(self, copy: Copy) -> None:
        for message in copy.messages:
            copies = self._copies.get(message)
            if copies is None:
                continue
            remaining = [other for other in copies if other is not copy]
            if remaining:
                self._copies[message] = remaining
            else:
                del self._copies[message]


def _failed(future: asyncio.Future[None]) -> bool:
    """Done and not confirmed; retrieving the error here keeps asyncio from reporting it."""
    return future.done() and (future.cancelled() or future.exception() is not None)
