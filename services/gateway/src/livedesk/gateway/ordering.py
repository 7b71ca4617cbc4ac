"""Per-account offset sequencing, sans-I/O: what may be delivered now, in which order.

Offsets of an account are gapless. The sequencer knows the last offset delivered to the
account's live sockets; an offer of the next one is delivered at once (with whatever held
offsets follow it), an offset already delivered is a duplicate (a retried publish, a replay
overlapping the live stream), and an early offset is held until the gap before it is filled,
either by the broker or, after `gap_wait_s`, by the node from the replay endpoint.

The baseline (the offset the node starts from for an account it just bound) is unknown until
the node has asked the API; until then every offer is held.

Deliberately not here: fetching (hub.py asks `gap()` and feeds the answer back with `offer`),
sockets, and the per-socket resume seam (a resuming socket catches up on its own until it
reaches `delivered`, then joins the live set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from livedesk.gateway.sockets import OutFrame

# Offsets held while a gap is open; more than this is a node that has fallen far behind, and
# what does not fit is fetched again from replay with the gap.
MAX_HELD: Final = 10_000


@dataclass(frozen=True, slots=True)
class Item:
    offset: int
    frame: OutFrame
    ts: float  # commit time, seconds since the epoch


class Sequencer:
    __slots__ = ("_held", "delivered", "held_since")

    def __init__(self, delivered: int | None = None) -> None:
        self.delivered = delivered
        self._held: dict[int, Item] = {}
        self.held_since: float | None = None  # when the oldest open gap was first seen

    def offer(self, item: Item, now: float) -> list[Item] | None:
        """Items now deliverable in offset order; None for a duplicate; [] when held."""
        delivered = self.delivered
        if delivered is None:
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
            del self._held[stale]
        if not self._held:
            self.held_since = None
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

    def _hold(self, item: Item, now: float) -> None:
        if len(self._held) >= MAX_HELD:
            highest = max(self._held)
            if item.offset > highest:
                return  # it comes again with the gap fill
            del self._held[highest]
        self._held[item.offset] = item
        if self.held_since is None:
            self.held_since = now

    def _drain(self, now: float, *, progressed: bool = False) -> list[Item]:
        out: list[Item] = []
        if self.delivered is None:
            return out
        held = self._held
        while (following := held.pop(self.delivered + 1, None)) is not None:
            out.append(following)
            self.delivered = following.offset
        # A gap still open after progress is a new gap: its wait starts now.
        if not held:
            self.held_since = None
        elif out or progressed:
            self.held_since = now
        return out
