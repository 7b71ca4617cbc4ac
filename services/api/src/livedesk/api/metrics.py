"""Prometheus metrics of one API instance, in its own registry (no process-global state).

requests (method, route template, status), the outbox backlog (events committed and not yet
confirmed by the broker, read from the database at scrape time), commit-to-publish latency
(from the moment the event's commit returned, see `commit_times`, to the broker's confirm)
and written-to-publish latency (from the event's `ts`, taken before its writing statement,
to the confirm: the write's own time included).
Not here: serving them (see routes.health).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Sub-millisecond to seconds: the happy path is a few ms, an outage's backlog drains in s.
# Dense around the 20 ms that the p99 aims for, so that a quantile read from them is close.
LATENCY_BUCKETS_S = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    5.0,
    30.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "livedesk_api_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "livedesk_outbox_backlog",
            "Events committed and not yet confirmed by the broker",
            registry=self.registry,
        )
        self.commit_to_publish = Histogram(
            "livedesk_outbox_commit_to_publish_seconds",
            "From the return of an event's commit to the broker's confirm",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.written_to_publish = Histogram(
            "livedesk_outbox_written_to_publish_seconds",
            "From an event's ts, taken before its writing statement, to the broker's confirm",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.published = Counter(
            "livedesk_outbox_published_events",
            "Events the broker confirmed",
            registry=self.registry,
        )

    async def render(self, backlog: Callable[[], Awaitable[int]]) -> bytes:
        self.backlog.set(await backlog())
        return generate_latest(self.registry)


class RequestMetrics:
    """Pure ASGI middleware counting requests by route template (cheaper than BaseHTTP)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app, self._metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self._metrics.requests.labels(scope["method"], template, str(status)).inc()
