"""The last persistent events an account's sockets were sent, to serve resumes from memory.

A reconnect storm brings back sockets that missed only the last few events, which this very
node just delivered live; asking the API's replay endpoint for them once per socket made the
API the bottleneck. `RecentEvents` keeps the frames already encoded for the live sockets (the
same `OutFrame`, no copy) for a contiguous run of offsets `(floor, top]`, bounded in count and
in bytes, oldest evicted first.

Deliberately not here: deciding when a resume may be served from it (the hub checks that `top`
is the account's delivered offset), fetching what it does not hold (the replay client).
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from livedesk.gateway.sockets import OutFrame


class RecentEvents:
    """Frames of offsets `floor + 1 .. top`, contiguous, at most `max_events` / `max_bytes`."""

    __slots__ = ("_bytes", "_frames", "floor", "max_bytes", "max_events", "top")

    def __init__(self, max_events: int, max_bytes: int, offset: int = 0) -> None:
        self.max_events, self.max_bytes = max_events, max_bytes
        self._frames: deque[tuple[int, OutFrame]] = deque()
        self._bytes = 0
        self.floor = self.top = offset

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def reset(self, offset: int) -> None:
        """Forget everything: the next event kept must be `offset + 1`."""
        self._frames.clear()
        self._bytes = 0
        self.floor = self.top = offset

    def add(self, offset: int, frame: OutFrame) -> None:
        """Keep the frame of `offset`; an offset that does not follow `top` starts a new run."""
        if offset != self.top + 1:
            self.reset(offset - 1)
        size = len(frame)
        if self.max_events <= 0 or size > self.max_bytes:
            self.reset(offset)  # cannot hold even this one: the run restarts after it
            return
        self._frames.append((offset, frame))
        self._bytes += size
        self.top = offset
        while len(self._frames) > self.max_events or self._bytes > self.max_bytes:
            evicted, old = self._frames.popleft()
            self._bytes -= len(old)
            self.floor = evicted

    def since(self, after: int) -> list[OutFrame] | None:
        """The frames of `after + 1 .. top`, or None if `after` is outside `[floor, top]`."""
        if not self.floor <= after <= self.top:
            return None
        return [frame for _, frame in islice(self._frames, after - self.floor, None)]
