"""Keys due at given times on one clock, earliest first: a sweeper's work is what is due.

The gateway's sweeper (auth deadlines, token expiries, pings) and presence's state machine
(typing expiries, offline graces) both keep one. A heap of due times makes each sweep cost
what is due plus a look at the earliest, whatever the number of keys waiting.

Rescheduling and cancelling are lazy: the key's current due time is kept in a dict, and a heap
entry that no longer matches it is dropped when it surfaces. So that dropped keys (sockets
gone, tokens renewed, typing refreshed) are not held until their old due time, the heap is
rebuilt from the dict once it holds more than twice as many entries as keys.

Deliberately not here: clocks (callers pass `now`) and what being due means.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Below this many heap entries a rebuild is not worth its own cost.
MIN_REBUILD: Final = 64


class Deadlines(Generic[K]):
    __slots__ = ("_due", "_heap", "_order")

    def __init__(self) -> None:
        self._due: dict[K, float] = {}
        # (due, order, key): `order` breaks ties, so keys are never compared.
        self._heap: list[tuple[float, int, K]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: K) -> bool:
        return key in self._due

    def schedule(self, key: K, due: float) -> None:
        """`key` is due at `due` (instead of any earlier schedule); cheap when unchanged."""
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._compact()

    def cancel(self, key: K) -> None:
        self._due.pop(key, None)
        self._compact()

    def pop_due(self, now: float, limit: int | None = None) -> list[tuple[float, K]]:
        """(due, key) of the keys due at or before `now` (at most `limit` of them), earliest
        first; they are no longer scheduled."""
        heap, current = self._heap, self._due
        out: list[tuple[float, K]] = []
        while heap and heap[0][0] <= now and (limit is None or len(out) < limit):
            due, _, key = heapq.heappop(heap)
            if current.get(key) == due:  # else cancelled or rescheduled: a stale entry
                del current[key]
                out.append((due, key))
        return out

    def next_due(self) -> float | None:
        """The earliest due time scheduled, or None."""
        heap, current = self._heap, self._due
        while heap and current.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _compact(self) -> None:
        if len(self._heap) > max(MIN_REBUILD, 2 * len(self._due)):
            self._heap = [(due, next(self._order), key) for key, due in self._due.items()]
            heapq.heapify(self._heap)
