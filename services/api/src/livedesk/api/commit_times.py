"""When each event's commit returned in this process: where commit-to-publish starts.

An event's `ts` is taken before its writing statement is sent, so a latency measured from
it also counts the wait for a pooled connection and the statement itself, which grow with
the request load and say nothing about the relay. The relay measures from the moment the
commit returned here instead. Events this process did not see commit (another replica's,
or written before a restart) are not here, and the relay falls back to their `ts`.

Bounded: while the broker is away, nothing is taken out, and the oldest entries are
dropped rather than kept without limit (their events fall back to `ts` too).
"""

from __future__ import annotations

from collections.abc import Iterable

# An event is (account, offset).
EventKey = tuple[int, int]

# A few seconds of the highest write rate measured: an entry older than that has either
# been published already or belongs to an outage's backlog.
DEFAULT_CAPACITY = 10_000


class CommitTimes:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        # Insertion order is commit order: the first key is the oldest.
        self._committed_at: dict[EventKey, float] = {}

    def record(self, events: Iterable[EventKey], at: float) -> None:
        """`events` committed; their commit returned at `at` (seconds since the epoch)."""
        committed_at = self._committed_at
        for event in events:
            committed_at[event] = at
        for _ in range(len(committed_at) - self._capacity):
            del committed_at[next(iter(committed_at))]

    def pop(self, event: EventKey) -> float | None:
        """When `event`'s commit returned here, once; None when it was not seen or dropped."""
        return self._committed_at.pop(event, None)

    def __len__(self) -> int:
        return len(self._committed_at)
