"""The last persistent events an account's sockets were sent, to serve resumes from memory.

A reconnect storm brings back sockets that missed only the last few events, which this very
node just delivered live; asking the API's replay endpoint for them once per socket would make
the API the bottleneck. `ResumeBuffer` keeps the frames already encoded for the live sockets (the
same `OutFrame`, no copy) for a contiguous run of offsets `(floor, top]`, bounded in count and
in bytes, oldest evicted first.

Every change in its size is reported to the node's `ResumeBudget`, which may empty it (or
trim it) to keep all accounts' buffers together within the node's bound.

Deliberately not here: deciding when a resume may be served from it (catch-up checks that `top`
is the account's delivered offset), fetching what it does not hold (the API client), which
account's buffer gives way to the node's bound (resume_budget.py).
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Protocol

from livedesk.gateway.sockets import OutFrame


class Budget(Protocol):
    """What a buffer tells the node's byte budget (resume_budget.py), which knows every buffer."""

    def changed(self, buffer: ResumeBuffer, delta_bytes: int) -> None: ...

    def used(self, buffer: ResumeBuffer) -> None: ...


class ResumeBuffer:
    """Frames of offsets `floor + 1 .. top`, contiguous, at most `max_events` / `max_bytes`."""

    __slots__ = ("_budget", "_bytes", "_frames", "floor", "max_bytes", "max_events", "top")

    def __init__(
        self,
        max_events: int,
        max_bytes: int,
        offset: int = 0,
        budget: Budget | None = None,
    ) -> None:
        self.max_events, self.max_bytes = max_events, max_bytes
        self._frames: deque[tuple[int, OutFrame]] = deque()
        self._bytes = 0
        self.floor = self.top = offset
        self._budget = budget

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def reset(self, offset: int) -> None:
        """Forget everything: the next event kept must be `offset + 1`."""
        freed = self._bytes
        self._clear(offset)
        if self._budget is not None and freed:
            self._budget.changed(self, -freed)

    def add(self, offset: int, frame: OutFrame) -> None:
        """Keep the frame of `offset`; an offset that does not follow `top` starts a new run."""
        before = self._bytes
        self._add(offset, frame)
        if self._budget is not None:
            self._budget.changed(self, self._bytes - before)

    def shrink(self, max_bytes: int) -> int:
        """Drop the oldest frames until at most `max_bytes` are kept; the bytes freed.

        For the budget, which has already counted them: not reported to it."""
        before = self._bytes
        self._evict(self.max_events, max_bytes)
        return before - self._bytes

    def since(self, after: int) -> list[OutFrame] | None:
        """The frames of `after + 1 .. top`, or None if `after` is outside `[floor, top]`."""
        if not self.floor <= after <= self.top:
            return None
        if self._budget is not None:
            self._budget.used(self)
        return [frame for _, frame in islice(self._frames, after - self.floor, None)]

    def _clear(self, offset: int) -> None:
        self._frames.clear()
        self._bytes = 0
        self.floor = self.top = offset

    def _add(self, offset: int, frame: OutFrame) -> None:
        if offset != self.top + 1:
            self._clear(offset - 1)
        size = len(frame)
        if self.max_events <= 0 or size > self.max_bytes:
            self._clear(offset)  # cannot hold even this one: the run restarts after it
            return
        self._frames.append((offset, frame))
        self._bytes += size
        self.top = offset
        self._evict(self.max_events, self.max_bytes)

    def _evict(self, max_events: int, max_bytes: int) -> None:
        while len(self._frames) > max_events or self._bytes > max_bytes:
            evicted, old = self._frames.popleft()
            self._bytes -= len(old)
            self.floor = evicted
