"""Wiring: build the API's collaborators from settings, a Bus and an engine; make the app;
run its background work. The caller owns the bus and the engine, so the same functions
serve `livedesk api` (RabbitMQ, PostgreSQL) and the one-process standalone mode (MemoryBus,
SQLite):

    context = build_context(settings, bus, engine)
    app = create_app(context)              # mount it, or serve it with uvicorn
    await run_background(context)          # relay, retention, availability: run beside it

Not here: processes, signals and the broker connection (see `main`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.availability import AvailabilityAnnouncer
from livedesk.api.deps import ApiContext
from livedesk.api.errors import documented, install_error_handlers
from livedesk.api.fast_messages import FastMessagePost
from livedesk.api.limits import BodyLimit
from livedesk.api.message_writer import PgMessageWriter
from livedesk.api.metrics import Metrics, RequestMetrics
from livedesk.api.openapi import with_exact_bounds
from livedesk.api.outbox import Outbox
from livedesk.api.passwords import Passwords
from livedesk.api.relay import Relay
from livedesk.api.request_boundary import RequestBoundary
from livedesk.api.retention import run_retention
from livedesk.api.routes import agents, auth, conversations, directory, events, health, messages
from livedesk.api.token_cache import CachingVerifier
from livedesk.shared.bus.base import Bus
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import (
    TokenSigner,
    TokenVerifier,
    ensure_key_pair,
    load_private_key,
)


def build_context(settings: Settings, bus: Bus, engine: AsyncEngine) -> ApiContext:
    private_path = settings.tokens.private_key_path
    if private_path is None:
        private_path, _ = ensure_key_pair(settings.data_dir / "keys")
    signer = TokenSigner(
        load_private_key(private_path),
        issuer=settings.tokens.issuer,
        ttl_s=settings.tokens.access_ttl_s,
    )
    metrics = Metrics()
    # Verifies with the signer's own public key: the API never fetches its own JWKS.
    verifier = TokenVerifier(signer.public_key, issuer=settings.tokens.issuer)
    relay = Relay(engine, bus, settings.api, metrics)
    postgresql = engine.dialect.name == "postgresql"
    return ApiContext(
        settings=settings,
        engine=engine,
        bus=bus,
        outbox=Outbox(engine, relay.notify),
        relay=relay,
        announcer=AvailabilityAnnouncer(
            engine,
            bus,
            node=settings.node_id,
            interval_s=settings.api.availability_snapshot_interval_s,
        ),
        signer=signer,
        verifier=verifier,
        token_cache=CachingVerifier(verifier),
        passwords=Passwords(
            time_cost=settings.api.password_time_cost,
            memory_kib=settings.api.password_memory_kib,
        ),
        metrics=metrics,
        message_writer=PgMessageWriter(engine.url, relay.notify) if postgresql else None,
    )


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Livedesk API",
        version="1",
        description="Conversations, messages and the event log of Livedesk.",
        responses=documented(500),
    )
    app.state.context = context
    app.openapi = with_exact_bounds(app.openapi)  # type: ignore[method-assign]
    install_error_handlers(app)
    for module in (auth, agents, directory, conversations, messages, events, health):
        app.include_router(module.router)
    if context.message_writer is not None:
        # Innermost of the three: inside the body limit, counted by the request metrics.
        app.add_middleware(
            FastMessagePost,
            writer=context.message_writer,
            tokens=context.token_cache,
            route=_route_of(messages.router, messages.create_message),
        )
    app.add_middleware(BodyLimit, max_bytes=context.settings.api.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=context.metrics)
    app.add_middleware(RequestBoundary)  # outermost: nothing escapes to the server
    return app


def _route_of(router: APIRouter, endpoint: Callable[..., Any]) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


async def run_background(context: ApiContext) -> None:
    """The relay, retention, availability announcements and the PostgreSQL message
    writer's pool; runs until cancelled.

    If one of them fails, the others are cancelled and the error propagates: run this as a
    sibling of the server, so that the process dies rather than serving without a relay.
    """
    async with asyncio.TaskGroup() as group:
        group.create_task(context.relay.run())
        group.create_task(context.announcer.run())
        group.create_task(run_retention(context.engine, context.settings.api))
        if context.message_writer is not None:
            group.create_task(context.message_writer.run())
