"""The node's byte budget for the resume buffers of all its accounts together.

Each bound account keeps up to `resume_buffer_bytes` of recent frames (`ResumeBuffer`), so a
node with thousands of accounts needs a total. Every buffer reports its changes in size here;
past `resume_buffers_node_bytes` the buffers of the accounts least recently sent an event or
resumed from are emptied until the node is within its bound again (the one that just grew is
only trimmed, oldest frames first, if it alone is over). A resume that finds its buffer emptied
reads the replay endpoint, as one older than the buffer always has.

Deliberately not here: what a buffer keeps (resume_buffer.py), when a resume may use it
(catch_up.py).
"""

from __future__ import annotations

from collections import OrderedDict

from livedesk.gateway.metrics import Metrics
from livedesk.gateway.resume_buffer import ResumeBuffer


class ResumeBudget:
    __slots__ = ("_buffers", "_evictions", "bytes", "max_bytes")

    def __init__(self, max_bytes: int, metrics: Metrics) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0  # payload bytes held by every buffer together
        # Buffers holding bytes, least recently used first.
        self._buffers: OrderedDict[ResumeBuffer, None] = OrderedDict()
        self._evictions = metrics.resume_buffer_evictions
        metrics.resume_buffer_bytes.set_function(lambda: self.bytes)

    def changed(self, buffer: ResumeBuffer, delta_bytes: int) -> None:
        """`buffer` grew (an event was added) or shrank by `delta_bytes`."""
        self.bytes += delta_bytes
        buffers = self._buffers
        if not buffer.size_bytes:
            buffers.pop(buffer, None)  # nothing to evict
            return
        buffers[buffer] = None
        buffers.move_to_end(buffer)
        if self.bytes > self.max_bytes:
            self._evict(buffer)

    def used(self, buffer: ResumeBuffer) -> None:
        """A resume was served from `buffer`: it is the last to give way."""
        if buffer in self._buffers:
            self._buffers.move_to_end(buffer)

    def forget(self, buffer: ResumeBuffer) -> None:
        """Its account is gone from the node."""
        if self._buffers.pop(buffer, False) is None:
            self.bytes -= buffer.size_bytes

    def _evict(self, grown: ResumeBuffer) -> None:
        buffers = self._buffers
        while self.bytes > self.max_bytes and buffers:
            oldest = next(iter(buffers))
            if oldest is grown:  # the last one left: keep of it what fits
                self.bytes -= oldest.shrink(self.max_bytes)
                self._evictions.inc()
                return
            self.bytes -= oldest.shrink(0)
            del buffers[oldest]
            self._evictions.inc()
