"""`livedesk gateway`: wire one node together, run it until SIGTERM, drain, stop.

`gateway_node(...)` takes its collaborators (bus, settings, verifier, API client, presence
lookup) and yields a running `Node`, so the one-process standalone mode can build the same
node on a MemoryBus and mount `node.handle` on its own WebSocket route. Its long-lived tasks
(queue pump, gap sweeper, deadline sweeper, presence publisher and heartbeat) are siblings in
one TaskGroup: if one dies, the node dies with it rather than serve deaf.

`serve(...)` adds what only a separate process has: the `websockets` server on its port
(bound first), the JWKS fetch and the RabbitMQ bus (each given up after
`bus.connect_timeout_s`), and the signals. On the first SIGTERM or SIGINT while starting it
stops at once; once serving it stops accepting, sends `reconnect` and closes with 1001
spread over `drain_window_s`, flushes presence, and exits. Exit codes and the one-line
start-up failures are `livedesk.shared.lifecycle`'s.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from livedesk.gateway import ws_server
from livedesk.gateway.api_client import ApiClient, HttpApiClient
from livedesk.gateway.clock import Clock, SystemClock
from livedesk.gateway.http_transport import RetryStaleConnections
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.node import Node
from livedesk.gateway.presence_client import (
    HttpPresenceLookup,
    PresenceLookup,
    PresenceReporter,
)
from livedesk.shared.bus.base import Bus
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.lifecycle import Shutdown, bind, reaching, redact, run_service
from livedesk.shared.settings import BusSettings, Settings
from livedesk.shared.tokens import TokenVerifier
from livedesk.shared.topology import node_queue
from livedesk.shared.verifying_key import load_keys, remote_keys

log = logging.getLogger(__name__)

# Frames larger than max_frame_bytes are answered with an error; the transport accepts this
# multiple of it, so an oversize frame is a protocol error rather than a dropped socket.
TRANSPORT_MAX_FRAME_FACTOR = 4


@asynccontextmanager
async def gateway_node(
    bus: Bus,
    settings: Settings,
    verifier: TokenVerifier,
    api: ApiClient,
    presence: PresenceLookup,
    metrics: Metrics | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Node]:
    """A running node: its queue consumed, its sweepers and presence reporting going."""
    metrics = metrics or Metrics()
    clock = clock or SystemClock()
    spec = node_queue(settings.node_id)
    publisher = events_publisher(bus, settings.bus)
    if publisher is not None:
        log.info("accepting events published by broker user %r", publisher)
    async with bus.subscribe(spec, prefetch=settings.bus.prefetch) as subscription:
        interval_s = settings.gateway.heartbeat_interval_s
        reporter = PresenceReporter(bus, settings.node_id, interval_s, clock)
        async with asyncio.TaskGroup() as tasks:
            node = Node(
                settings.node_id,
                settings.gateway,
                verifier,
                subscription,
                api,
                presence,
                reporter,
                metrics,
                tasks,
                clock,
                typing_interval_s=settings.presence.typing_interval_s,
                prefetch=settings.bus.prefetch,
                events_publisher=publisher,
            )
            hub = node.hub
            subscription.on_restore(hub.gap_fill.restore)
            workers = [
                tasks.create_task(hub.fanout.pump(), name="fanout.pump"),
                tasks.create_task(hub.gap_fill.sweep(), name="gap_fill.sweep"),
                tasks.create_task(node.sweep(), name="node.sweep"),
                tasks.create_task(reporter.publish(), name="presence.publish"),
                tasks.create_task(reporter.heartbeat(node.snapshot), name="presence.heartbeat"),
            ]
            try:
                yield node
            finally:
                for worker in workers:
                    worker.cancel()
                hub.bindings.close()  # a pending unbind would hold the group for unbind_grace_s
                try:
                    await reporter.flush()
                except Exception:  # shutting down: presence repairs from the next node's beat
                    log.warning("presence flush at shutdown failed", exc_info=True)


def events_publisher(bus: Bus, settings: BusSettings) -> str | None:
    """The broker user whose events the node accepts: the configured one, else the one the
    node connects as (right when every service shares one user, as in development). None on a
    bus without broker users (in memory): its deliveries carry no user to check."""
    if bus.user_id is None:
        return None
    return settings.events_publisher_user or bus.user_id


async def run_server(
    node: Node, settings: Settings, sock: socket.socket, stop: asyncio.Event
) -> None:
    """Serve `node` on the bound `sock` until `stop` is set, then drain."""
    gateway = settings.gateway
    server = await ws_server.start(
        node,
        sock,
        ready=lambda: not stop.is_set(),
        metrics=node.metrics.render,
        max_size=gateway.max_frame_bytes * TRANSPORT_MAX_FRAME_FACTOR,
        ping_interval_s=gateway.ping_interval_s,
        ping_timeout_s=gateway.ping_timeout_s,
        send_buffer_bytes=gateway.socket_send_buffer_bytes,
        unsent_bytes=gateway.socket_unsent_bytes,
        fast_writes=gateway.fast_writes,
        access=ws_server.WebAccess(settings.allowed_origins, settings.metrics_token),
    )
    log.info("gateway %s listening on %s:%s", settings.node_id, *sock.getsockname()[:2])
    try:
        await stop.wait()
        log.info("draining over %.1f s", gateway.drain_window_s)
        server.close(close_connections=False)  # no new sockets; the open ones drain
        await node.drain(gateway.drain_window_s)
    finally:
        server.close()
        await server.wait_closed()


async def serve(settings: Settings, host: str, port: int, shutdown: Shutdown) -> None:
    timeout = httpx.Timeout(settings.gateway.http_timeout_s)
    # Every connection the pool may open may also stay open: with fewer kept alive, a
    # reconnect storm's replay and presence requests open and close connections by the dozen
    # a second, each a TCP handshake on both ends.
    # An idle connection is given up before the API's and presence's servers close it (5 s):
    # reusing one as the server closes it fails the request (see http_transport).
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)
    transport = RetryStaleConnections(limits=limits)
    start_timeout_s = settings.bus.connect_timeout_s
    broker = f"the broker at {redact(settings.amqp_url)}"
    name = f"livedesk-gateway-{settings.node_id}"
    with bind(host, port) as sock:  # first: a taken port must not wait for keys or broker
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
            keys = remote_keys(settings, http)
            await load_keys(settings, keys, start_timeout_s)
            verifier = TokenVerifier(keys, issuer=settings.tokens.issuer)
            async with (
                keys.refreshing(),
                reaching(
                    broker,
                    RabbitBus.connect(settings.amqp_url, settings.bus, name=name),
                    start_timeout_s,
                ) as bus,
                gateway_node(
                    bus,
                    settings,
                    verifier,
                    HttpApiClient(http, settings.api_url),
                    HttpPresenceLookup(http, settings.presence_url),
                ) as node,
            ):
                stop = asyncio.Event()
                shutdown.serving(stop.set)
                await run_server(node, settings, sock, stop)


def run(host: str, port: int, node_id: str | None) -> int:
    """`livedesk gateway`; the process's exit status (see `livedesk.shared.lifecycle`)."""
    settings = Settings(node_id=node_id) if node_id else Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop

    async def main(shutdown: Shutdown) -> None:
        await serve(settings, host, port, shutdown)

    return run_service("gateway", main, loop_factory=loop_factory)
