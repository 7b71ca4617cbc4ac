"""Per-account offset sequencing, sans-I/O: what may be delivered now, in which order.

Offsets of an account are gapless. The sequencer knows the last offset delivered to the
account's live sockets; an offer of the next one is delivered at once (with whatever held
offsets follow it), an offset already delivered is a duplicate (a retried publish, a replay
overlapping the live stream), and an early offset is held until the gap before it is filled,
either by the broker or, after `gap_wait_s`, by the node from the replay endpoint.

The baseline (the offset the node starts from for an account it just bound) is unknown until
the node has asked the API; until then every offer is held.

What is held is bounded, in events and in bytes, and a gap has a time bound: a gap the
node cannot fill (the API down) would otherwise stall the account's sockets without a word
while memory grows. With a baseline, `overflowing` and `stuck` tell the node to give the gap
up (it sends resync_required and delivers from the first held offset); without one, the
highest offsets are dropped: they come again with the fill from the baseline.

Deliberately not here: fetching (gap_fill.py asks `gap()` and feeds the answer back through
the fan-out's `offer`), sockets, and the per-socket resume seam (catch_up.py: a resuming socket
catches up on its own until it reaches `delivered`, then joins the live set).
"""

from __future__ import annotations

from dataclasses import dataclass

from livedesk.gateway.sockets import OutFrame


@dataclass(frozen=True, slots=True)
class Item:
    offset: int
    frame: OutFrame
    ts: float  # commit time, seconds since the epoch


class Sequencer:
    __slots__ = (
        "_held",
        "_held_bytes",
        "delivered",
        "gap_opened_at",
        "held_since",
        "max_held",
        "max_held_bytes",
    )

    def __init__(self, max_held: int, max_held_bytes: int, delivered: int | None = None) -> None:
        self.max_held, self.max_held_bytes = max_held, max_held_bytes
        self.delivered = delivered
        self._held: dict[int, Item] = {}
        self._held_bytes = 0
        # When the oldest open gap was first seen; the gap fill moves it on to pace its fills.
        self.held_since: float | None = None
        self.gap_opened_at: float | None = None  # the same, left alone: for `stuck`

    def offer(self, item: Item, now: float) -> list[Item] | None:
        """Items now deliverable in offset order; None for a duplicate; [] when held."""
        delivered = self.delivered
        if delivered is None:
            if item.offset not in self._held:
                self._hold(item, now)
            return []
        if item.offset <= delivered:
            return None
        if item.offset == delivered + 1:
            self.delivered = item.offset
            if not self._held:
                return [item]
            return [item, *self._drain(now, progressed=True)]
        if item.offset in self._held:
            return None
        self._hold(item, now)
        return []

    def set_baseline(self, offset: int, now: float) -> list[Item]:
        """Start (or restart, after a resync) from `offset`: drop held items at or before it."""
        self.delivered = offset
        for stale in [held for held in self._held if held <= offset]:
            self._held_bytes -= len(self._held.pop(stale).frame)
        if not self._held:
            self.held_since = self.gap_opened_at = None
        return self._drain(now)

    def gap(self, now: float, wait_s: float) -> tuple[int, int] | None:
        """(after, up_to) to fetch when a gap has been open for `wait_s`, else None."""
        if self.delivered is None or self.held_since is None:
            return None
        if now - self.held_since < wait_s:
            return None
        return self.delivered, min(self._held) - 1

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    @property
    def overflowing(self) -> bool:
        """Whether more is held behind the gap than its bounds allow (with a baseline)."""
        return self.delivered is not None and (
            len(self._held) > self.max_held or self._held_bytes > self.max_held_bytes
        )

    def stuck(self, now: float, max_s: float) -> bool:
        """Whether the oldest open gap has been open `max_s` (with a baseline)."""
        opened = self.gap_opened_at
        return self.delivered is not None and opened is not None and now - opened >= max_s

    def _hold(self, item: Item, now: float) -> None:
        held = self._held
        held[item.offset] = item
        self._held_bytes += len(item.frame)
        if self.delivered is None:
            while len(held) > self.max_held or self._held_bytes > self.max_held_bytes:
                self._held_bytes -= len(held.pop(max(held)).frame)
        if self.held_since is None:
            self.held_since = self.gap_opened_at = now

    def _drain(self, now: float, *, progressed: bool = False) -> list[Item]:
        out: list[Item] = []
        if self.delivered is None:
            return out
        held = self._held
        while (following := held.pop(self.delivered + 1, None)) is not None:
            out.append(following)
            self._held_bytes -= len(following.frame)
            self.delivered = following.offset
        # A gap still open after progress is a new gap: its wait starts now.
        if not held:
            self.held_since = self.gap_opened_at = None
        elif out or progressed:
            self.held_since = self.gap_opened_at = now
        return out
