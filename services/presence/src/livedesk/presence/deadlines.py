"""Items that fall due at a time, earliest first: the timers of the presence state machine.

A binary heap with lazy deletion: rescheduling pushes a new entry and cancelling forgets the
item, and the stale heap entries are skipped when they surface. That keeps schedule, cancel and
pop at O(log n) whatever the number of live timers (typing entries, agents in their offline
grace). It deliberately knows nothing of clocks: callers pass `now`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class Deadlines(Generic[T]):
    def __init__(self) -> None:
        # The counter breaks ties so that items themselves are never compared.
        self._heap: list[tuple[float, int, T]] = []
        self._due: dict[T, float] = {}
        self._order = itertools.count()

    def __contains__(self, item: T) -> bool:
        return item in self._due

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, item: T, due: float) -> None:
        """Make `item` fall due at `due`, replacing any earlier schedule of it."""
        if self._due.get(item) == due:
            return
        self._due[item] = due
        heapq.heappush(self._heap, (due, next(self._order), item))

    def cancel(self, item: T) -> None:
        self._due.pop(item, None)

    def pop_due(self, now: float, limit: int | None = None) -> list[tuple[float, T]]:
        """Remove and return the items due at or before `now` (at most `limit` of them), as
        (due, item), earliest first."""
        fired: list[tuple[float, T]] = []
        heap = self._heap
        while heap and heap[0][0] <= now and (limit is None or len(fired) < limit):
            due, _, item = heapq.heappop(heap)
            if self._due.get(item) == due:  # else cancelled or rescheduled: a stale entry
                del self._due[item]
                fired.append((due, item))
        return fired

    def next_due(self) -> float | None:
        heap = self._heap
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None
