"""Which persistent events the application has had, by the account's gapless offset.

The cursor is the last offset delivered. A resuming socket asks for everything after it, and
anything at or below it (a replay overlapping what the live stream already gave) is dropped,
so the application sees each offset once and in order.

Deliberately not here: sockets, and what to do about a gap (the server fills gaps before it
sends; `resync_required` moves the cursor when it cannot).
"""

from __future__ import annotations


class OffsetCursor:
    """The last offset handed to the application, or None before the first `ready`."""

    def __init__(self, start: int | None = None) -> None:
        if start is not None and start < 0:
            raise ValueError("an offset is a non-negative integer")
        self.last = start

    def resume_from(self) -> int | None:
        """What the next `auth` asks for: None on a first connection with no start given."""
        return self.last

    def ready(self, offset: int) -> None:
        """A socket is live after `offset`; a cursor that had nothing starts there."""
        if self.last is None:
            self.last = offset

    def accept(self, offset: int) -> bool:
        """Whether an event at `offset` is new; if it is, the cursor moves to it."""
        if self.last is not None and offset <= self.last:
            return False
        self.last = offset
        return True

    def resync(self, offset: int) -> None:
        """Events up to `offset` cannot be had; what follows it comes next (even if lower)."""
        self.last = offset
