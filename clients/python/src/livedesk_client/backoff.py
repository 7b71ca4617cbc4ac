"""How long to wait before the next connection attempt: exponential back-off, full jitter.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads the clients of a
node that died over the whole window instead of bringing them back in waves. The random
source is injected so the schedule can be tested.

Deliberately not here: when to retry at all (machine.py), sleeping (client.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays of `random() * min(cap_s, base_s * 2**attempt)`; `reset` after a success."""

    def __init__(
        self, base_s: float = 0.5, cap_s: float = 30.0, rand: Callable[[], float] = random.random
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("back-off needs 0 < base_s <= cap_s")
        self.base_s, self.cap_s = base_s, cap_s
        self._random = rand
        self.attempt = 0

    def ceiling_s(self) -> float:
        """The largest delay the next attempt may draw."""
        # min() before the power would overflow: 2**attempt grows without bound.
        if self.attempt >= 64:
            return self.cap_s
        return min(self.cap_s, self.base_s * float(2**self.attempt))

    def next_delay_s(self) -> float:
        delay = self._random() * self.ceiling_s()
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
