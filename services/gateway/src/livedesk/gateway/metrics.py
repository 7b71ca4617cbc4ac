"""The node's Prometheus metrics, on a registry of its own (no global state).

Sockets per account would be a label per account: unbounded cardinality. Instead the node
exports how many accounts are bound and, computed at scrape time, a gauge histogram of how
many sockets each bound account has. Latency is observed once per event per node (commit
time `ts` to the moment its bytes were written to every local socket), not once per
delivery: the sockets of one event are written in one pass, microseconds apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, Metric
from prometheus_client.registry import Collector

SOCKETS_PER_ACCOUNT_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class _SocketsPerAccount(Collector):
    def __init__(self, counts: Callable[[], Iterable[int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = list(self._counts())
        buckets = [
            (str(bound), float(sum(1 for count in counts if count <= bound)))
            for bound in SOCKETS_PER_ACCOUNT_BUCKETS
        ]
        buckets.append(("+Inf", float(len(counts))))
        yield GaugeHistogramMetricFamily(
            "livedesk_gateway_sockets_per_account",
            "Bound accounts by how many authenticated sockets they have on this node",
            buckets=buckets,
            gsum_value=float(sum(counts)),
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.connections = Gauge(
            "livedesk_gateway_connections", "Open WebSocket connections", registry=registry
        )
        self.sockets = Gauge("livedesk_gateway_sockets", "Authenticated sockets", registry=registry)
        self.bound_accounts = Gauge(
            "livedesk_gateway_bound_accounts",
            "Accounts whose routing pattern is bound to this node's queue",
            registry=registry,
        )
        self.broker_messages = Counter(
            "livedesk_gateway_broker_messages",
            "Messages received from the node queue, by exchange kind",
            ["kind"],
            registry=registry,
        )
        self.foreign_messages = Counter(
            "livedesk_gateway_foreign_messages",
            "Messages received for an account with no socket and no binding on this node",
            registry=registry,
        )
        self.invalid_messages = Counter(
            "livedesk_gateway_invalid_messages",
            "Broker messages dropped because they did not parse",
            registry=registry,
        )
        self.impostor_events = Counter(
            "livedesk_gateway_impostor_events",
            "Events on the events exchange dropped because another broker user than the API's"
            " published them",
            registry=registry,
        )
        self.deliveries = Counter(
            "livedesk_gateway_deliveries", "Event frames written to sockets", registry=registry
        )
        self.duplicates = Counter(
            "livedesk_gateway_duplicates_dropped",
            "Persistent events dropped because their offset was already delivered",
            registry=registry,
        )
        self.gap_fills = Counter(
            "livedesk_gateway_gap_fills",
            "Replay requests made to fill a gap or catch up an account",
            registry=registry,
        )
        self.gap_filled_events = Counter(
            "livedesk_gateway_gap_filled_events",
            "Events obtained from replay that the broker had not (yet) delivered",
            registry=registry,
        )
        self.replayed = Counter(
            "livedesk_gateway_replayed_events",
            "Events written to resuming sockets from replay",
            registry=registry,
        )
        self.replay_calls = Counter(
            "livedesk_gateway_resume_replay_calls",
            "Replay requests made for resuming sockets (one shared by concurrent resumes)",
            registry=registry,
        )
        self.resumes = Counter(
            "livedesk_gateway_resume_sources",
            "Resume catch-ups, by where the missed events came from",
            ["source"],
            registry=registry,
        )
        self.resyncs = Counter(
            "livedesk_gateway_resyncs", "resync_required frames sent", registry=registry
        )
        self.resume_buffer_bytes = Gauge(
            "livedesk_gateway_resume_buffer_bytes",
            "Payload bytes held in the resume buffers of every account on this node",
            registry=registry,
        )
        self.resume_buffer_evictions = Counter(
            "livedesk_gateway_resume_buffer_evictions",
            "Resume buffers emptied or trimmed to keep the node within its byte budget",
            registry=registry,
        )
        self.gap_held_bytes = Gauge(
            "livedesk_gateway_gap_held_bytes",
            "Payload bytes of events held behind gaps, every account on this node",
            registry=registry,
        )
        self.holds_resynced = Counter(
            "livedesk_gateway_holds_resynced",
            "Gaps given up with resync_required because what was held behind them reached"
            " its bound in events, bytes or time",
            registry=registry,
        )
        self.refusals = Counter(
            "livedesk_gateway_socket_refusals",
            "New sockets refused because a cap was reached, by cap (node, account, user)",
            ["cap"],
            registry=registry,
        )
        self.closes = Counter(
            "livedesk_gateway_closes", "Sockets closed by the node, by code", ["code"],
            registry=registry,
        )  # fmt: skip
        self.binds = Counter(
            "livedesk_gateway_bind_operations",
            "Bind and unbind operations on the node queue",
            ["op"],
            registry=registry,
        )
        self.latency = Histogram(
            "livedesk_gateway_commit_to_write_seconds",
            "Event commit time to its frame written to every local socket",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def watch_accounts(self, counts: Callable[[], Iterable[int]]) -> None:
        self.registry.register(_SocketsPerAccount(counts))

    def render(self) -> bytes:
        return generate_latest(self.registry)
