"""Publishing on one confirm-mode channel: batches written to the socket, one future each.

A batch's frames (`batch_publish`) are written to the socket's transport in one call; the
broker's confirms arrive from the socket callback (`amqp_frames`) into `confirm`, which
resolves the batch's one future once all its tags are acked. In confirm mode the broker
numbers a channel's publishes in the order it reads them: the count is aiormq's
`channel.delivery_tag`, taken over and moved on in the same synchronous step as the write, so
the numbers follow the byte order; that holds because the publisher channel is the bus's alone
and every other frame aiormq sends on it is an RPC awaited before we publish. A batch is
written only while the `WriteGate` is open (the broker has not blocked the connection, the
buffer is under its high-water mark). A batch fails on a nack (BusError) and when its channel
closes (ConnectionError, which the bus retries on the reopened channel).

Why: docs/adr/0001-fast-publish-path.md. Not here: which socket (`transport`), retries and
timeouts (`rabbit.bus`), what a retry of an abandoned batch waits for (`rabbit.abandoned`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

import aiormq

from livedesk.shared.bus.rabbit.fast.write_gate import WriteGate
from livedesk.shared.errors import BusError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Batch:
    first: int
    last: int
    future: asyncio.Future[None]
    size_bytes: int
    # Every tag up to here is confirmed (a multiple ack); above it, `singles` were one by one.
    acked_through: int
    singles: set[int] = field(default_factory=set)

    def complete(self) -> bool:
        return self.last - self.acked_through == len(self.singles)


class ConfirmTracker:
    """Writes batches of publishes on `channel` to `transport`; settles them from confirms."""

    def __init__(
        self, channel: aiormq.Channel, transport: asyncio.WriteTransport, gate: WriteGate
    ) -> None:
        if not channel.publisher_confirms:
            raise ValueError("a confirm tracker needs a channel in confirm mode")
        self.channel = channel
        self._transport = transport
        self._gate = gate
        self._batches: deque[_Batch] = deque()  # in flight, in tag order
        self._closed: BaseException | None = None
        # Of the batches written and not settled yet.
        self.unconfirmed_bytes = 0

    async def writable(self) -> None:
        """Return once the socket may take a batch: at once, unless the broker has blocked
        the connection or the transport's buffer is over its high-water mark."""
        await self._gate.wait()

    def send(self, payload: bytes, count: int) -> asyncio.Future[None]:
        """Write the frames of `count` publishes; the future resolves once all are acked."""
        if self._closed is not None:
            raise ConnectionError(f"channel closed: {self._closed!r}")
        if self.channel.is_closed or self._transport.is_closing():
            raise ConnectionError("channel or socket closed before the publish")
        channel = self.channel
        first = channel.delivery_tag + 1
        channel.delivery_tag += count
        batch = _Batch(
            first, first + count - 1, channel.loop.create_future(), len(payload), first - 1
        )
        self._batches.append(batch)
        self.unconfirmed_bytes += batch.size_bytes
        self._transport.write(payload)
        return batch.future

    def confirm(self, tag: int, multiple: bool, acked: bool) -> None:
        """A Basic.Ack (`acked`) or Basic.Nack for `tag`, or every tag up to it (`multiple`)."""
        if multiple:
            self._confirm_through(tag, acked)
            return
        for batch in self._batches:
            if batch.first <= tag <= batch.last:
                if not acked:
                    self._settle(batch, f"broker refused the message with delivery tag {tag}")
                    return
                batch.singles.add(tag)
                if batch.complete():
                    self._settle(batch, None)
                return
        log.warning("confirm of delivery tag %d on channel %s: no such publish", tag, self.channel)

    def fail(self, reason: BaseException | None) -> None:
        """The channel closed: no confirm will come for what is in flight."""
        self._closed = reason or ConnectionError("channel closed")
        self.unconfirmed_bytes = 0
        while self._batches:
            batch = self._batches.popleft()
            if not batch.future.done():
                error = ConnectionError(f"channel closed before the broker confirmed: {reason!r}")
                error.__cause__ = reason
                batch.future.set_exception(error)

    def _confirm_through(self, tag: int, acked: bool) -> None:
        refusal = None if acked else f"broker refused messages up to delivery tag {tag}"
        batches = self._batches
        while batches and batches[0].last <= tag:
            self._settle(batches[0], refusal)
        if batches and batches[0].first <= tag:
            head = batches[0]
            if not acked:
                self._settle(head, refusal)
                return
            head.acked_through = tag
            head.singles = {single for single in head.singles if single > tag}
            if head.complete():
                self._settle(head, None)

    def _settle(self, batch: _Batch, refusal: str | None) -> None:
        self._batches.remove(batch)
        self.unconfirmed_bytes -= batch.size_bytes
        if batch.future.done():
            return  # cancelled by whoever awaited it
        if refusal is None:
            batch.future.set_result(None)
        else:
            batch.future.set_exception(BusError(refusal))
