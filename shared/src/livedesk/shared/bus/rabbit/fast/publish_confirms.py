"""Publishing on one confirm-mode channel: batches written to the socket, one future each.

aiormq's publish puts frames on the connection's write queue for its writer task (a turn
of the event loop), parses each Basic.Ack in its reader task (another), resolves a future
per message, and the caller gathers them (another). For the relay, which shares its loop
with a busy API, each turn runs every ready request callback first. Here a batch's frames
(`batch_publish`) are written to the socket's transport in one call, and the broker's
confirms arrive from the socket callback (`amqp_frames`) straight into `confirm`, which
resolves the batch's single future once all its tags are acked: one turn in all.

Delivery tags: in confirm mode the broker numbers a channel's publishes 1, 2, 3... in the
order it reads them. The count is aiormq's `channel.delivery_tag`, taken over: we number a
batch from it and move it on in the same synchronous step as the write, so the numbers
follow the byte order. That holds only while nothing else publishes on the channel: the
bus's publisher channel is ours alone, and aiormq's `confirmations` never holds our tags.

Writing past aiormq's write queue keeps the channel's order because every other frame
aiormq sends on this channel (Channel.Open, Confirm.Select, Basic.Qos, the exchange
declares a robust channel replays) is an RPC awaited before the channel is ready for us,
and the last, Channel.Close, ends the channel anyway. Frames of other channels may go
before or after ours: each write is whole frames, so the stream stays well formed.
A batch is written only when the socket's `WriteGate` is open (`writable`): not while the
broker has blocked the connection (a resource alarm), during which it reads nothing, nor
while the transport's buffer is over its high-water mark. What is held for the broker is
then the batches written before the gate closed (`unconfirmed_bytes`); a caller that gives
up on one leaves it here, in flight, until its confirms come or its channel closes.

A batch fails (its future raises) on a nack, with BusError, and when the channel closes,
with ConnectionError, which the bus retries on the reopened channel's new tracker.

Not here: which channel or socket (`transport`), retries and timeouts (`rabbit.bus`), what
a retry of a batch given up waits for (`rabbit.abandoned`).
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
