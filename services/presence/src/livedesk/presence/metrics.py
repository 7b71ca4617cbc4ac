"""Prometheus metrics, read from the state at scrape time.

A collector rather than counters updated in the hot path: the state machine keeps plain
integers, and a scrape turns them into metrics. Each service builds its own registry (no
process-global one), so two services in one process (standalone, tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from livedesk.presence.consumer import Consumer
from livedesk.presence.lease import Lease
from livedesk.presence.publishing import Announcer
from livedesk.presence.state import PresenceState


class PresenceCollector(Collector):
    def __init__(
        self, state: PresenceState, lease: Lease, announcer: Announcer, consumer: Consumer
    ) -> None:
        self._state, self._lease, self._announcer, self._consumer = (
            state,
            lease,
            announcer,
            consumer,
        )

    def collect(self) -> Iterable[Metric]:
        state, stats = self._state, self._state.stats
        yield GaugeMetricFamily(
            "presence_agents_online", "Agents announced online, busy or away", state.agents_online
        )
        yield GaugeMetricFamily(
            "presence_sockets", "Open sockets on live nodes", state.socket_count
        )
        yield GaugeMetricFamily("presence_typing", "Typing indicators running", state.typing_count)
        yield GaugeMetricFamily(
            "presence_active_consumer",
            "1 while this replica holds the presence queue (single active consumer) and announces",
            int(self._lease.active),
        )
        yield GaugeMetricFamily(
            "presence_warming", "1 while warming up (no offline announced yet)", int(state.warming)
        )
        yield GaugeMetricFamily(
            "presence_built", "1 once a first warm-up is over: reads are right", int(state.built)
        )
        ages = GaugeMetricFamily(
            "presence_node_heartbeat_age_seconds",
            "Seconds since the last heartbeat of each live node",
            labels=["node"],
        )
        for node, age in sorted(state.node_ages().items()):
            ages.add_metric([node], age)
        yield ages
        transitions = CounterMetricFamily(
            "presence_transitions", "Agent status transitions, by new status", labels=["status"]
        )
        for status, count in sorted(stats.transitions.items()):
            transitions.add_metric([status], count)
        yield transitions
        dropped = CounterMetricFamily(
            "presence_dropped", "Messages dropped as bad input, by reason", labels=["reason"]
        )
        for reason, count in sorted(stats.dropped.items()):
            dropped.add_metric([reason], count)
        yield dropped
        yield CounterMetricFamily(
            "presence_typing_starts", "Typing indicators started", stats.typing_starts
        )
        yield CounterMetricFamily("presence_node_deaths", "Nodes declared dead", stats.node_deaths)
        yield CounterMetricFamily("presence_heartbeats", "Heartbeats applied", stats.heartbeats)
        yield CounterMetricFamily(
            "presence_messages", "Deliveries consumed from the queue", self._consumer.messages
        )
        yield CounterMetricFamily(
            "presence_withheld_events",
            "Events decided while standing by, left to the active replica",
            self._announcer.withheld,
        )
        yield GaugeMetricFamily(
            "presence_expiry_lag_max_seconds",
            "Largest lateness of an expiry (typing TTL, offline grace) since start",
            stats.expiry_lag_max_s,
        )


def build_registry(
    state: PresenceState, lease: Lease, announcer: Announcer, consumer: Consumer
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PresenceCollector(state, lease, announcer, consumer))
    return registry
