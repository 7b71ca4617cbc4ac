"""What the API process knows of its relay: the metrics of what it published, and whether
its last round reached the broker (what /readyz reports as `broker`).

The relay reports here directly when it runs in the API's own process (standalone, tests),
and through `relay_process` when it runs in a child process (`livedesk api`).
"""

from __future__ import annotations

from livedesk.api.metrics import Metrics


class RelayStatus:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        # Down until a round says otherwise: a fresh relay has not reached anything yet.
        self.broker_ok = False

    def published(self, latencies_s: list[float]) -> None:
        for latency in latencies_s:
            self._metrics.commit_to_publish.observe(latency)
        self._metrics.published.inc(len(latencies_s))

    def broker_reached(self, ok: bool) -> None:
        self.broker_ok = ok
