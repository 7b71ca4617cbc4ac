"""Wiring: build the API's collaborators from settings, a Bus and an engine; make the app;
run its background work. The caller owns the bus and the engine, so the same functions
serve `livedesk api` (RabbitMQ, PostgreSQL) and the one-process standalone mode (MemoryBus,
SQLite); the store (`store.choice`) is what differs between them:

    context = build_context(settings, bus, engine)
    app = create_app(context)              # mount it, or serve it with uvicorn
    await run_background(context)          # relay, store, retention, availability: beside it

Not here: processes, signals and the broker connection (see `main`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from livedesk.api.access import AccessCheck, SessionStates
from livedesk.api.availability import AvailabilityAnnouncer
from livedesk.api.deps import ApiContext
from livedesk.api.docs_pages import install_docs, openapi_url
from livedesk.api.errors import documented, install_error_handlers
from livedesk.api.fast_messages import FastMessagePost, fast_route_chosen
from livedesk.api.fast_messages_compat import FAST_ROUTE_PROBLEM
from livedesk.api.inbox import mount_inbox
from livedesk.api.limits import BodyLimit
from livedesk.api.login_throttle import LoginThrottle
from livedesk.api.metrics import Metrics, RequestMetrics
from livedesk.api.openapi import with_exact_bounds
from livedesk.api.passwords import Passwords
from livedesk.api.relay import Relay
from livedesk.api.request_boundary import RequestBoundary
from livedesk.api.retention import run_retention
from livedesk.api.revocation import Revoker
from livedesk.api.routes import (
    access,
    agents,
    auth,
    conversations,
    directory,
    events,
    health,
    messages,
    search,
    sessions,
)
from livedesk.api.store.base import utc_now
from livedesk.api.store.choice import store_for
from livedesk.api.token_cache import CachingVerifier
from livedesk.shared.bus.base import Bus
from livedesk.shared.errors import LivedeskError
from livedesk.shared.key_set import KeyRing, ensure_key_set
from livedesk.shared.lifecycle import Unavailable
from livedesk.shared.settings import Settings
from livedesk.shared.tokens import FixedKey, TokenSigner, TokenVerifier, load_private_key
from livedesk.shared.web_headers import SecurityHeaders


def build_context(
    settings: Settings, bus: Bus, engine: AsyncEngine, *, clock: Callable[[], datetime] = utc_now
) -> ApiContext:
    """`clock`: the time the store writes into records and events (tests fix it)."""
    keys = signing_keys(settings)
    signer = TokenSigner(keys, issuer=settings.tokens.issuer, ttl_s=settings.tokens.access_ttl_s)
    metrics = Metrics()
    # Verifies with the signer's own keys: the API never fetches its own JWKS.
    verifier = TokenVerifier(keys, issuer=settings.tokens.issuer)
    relay = Relay(bus, settings.api, metrics)
    token_cache = CachingVerifier(verifier, key_generation=keys.generation)
    session_states = SessionStates(engine, check_s=settings.api.session_check_s)
    return ApiContext(
        settings=settings,
        store=store_for(engine, relay.notify, clock),
        engine=engine,
        bus=bus,
        relay=relay,
        announcer=AvailabilityAnnouncer(
            engine,
            bus,
            node=settings.node_id,
            interval_s=settings.api.availability_snapshot_interval_s,
        ),
        keys=keys,
        signer=signer,
        verifier=verifier,
        token_cache=token_cache,
        access=AccessCheck(token_cache, session_states),
        revoker=Revoker(bus, session_states, access_ttl_s=settings.tokens.access_ttl_s),
        passwords=Passwords.from_settings(settings.api),
        login_throttle=LoginThrottle.from_settings(settings),
        metrics=metrics,
    )


def signing_keys(settings: Settings) -> KeyRing | FixedKey:
    """One key file when configured (it cannot rotate), else the key directory, made with
    a first key when empty (development, standalone). Keys that cannot be read end the
    service with one line (`Unavailable`): a mounted secret may be missing or half made."""
    tokens = settings.tokens
    try:
        if tokens.private_key_path is not None:
            return FixedKey.signing(load_private_key(tokens.private_key_path))
        directory = tokens.key_directory(settings.data_dir)
        ensure_key_set(directory)
        return KeyRing(directory, check_interval_s=tokens.key_check_interval_s)
    except (OSError, ValueError, LivedeskError) as error:
        raise Unavailable(f"cannot use the token signing keys: {error}") from None


def create_app(context: ApiContext) -> FastAPI:
    settings = context.settings
    app = FastAPI(
        title="Livedesk API",
        version="1",
        description="Conversations, messages and the event log of Livedesk.",
        responses=documented(500),
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi_url(settings.api.docs),
    )
    app.state.context = context
    app.openapi = with_exact_bounds(app.openapi)  # type: ignore[method-assign]
    install_error_handlers(app)
    routes = (
        auth,
        sessions,
        agents,
        access,
        directory,
        conversations,
        messages,
        search,
        events,
        health,
    )
    for module in routes:
        app.include_router(module.router)
    if settings.api.docs:
        install_docs(app)
    mount_inbox(app, demo=settings.api.demo)
    if fast_route_chosen(context.settings.api, FAST_ROUTE_PROBLEM):
        # Innermost of the three: inside the body limit, counted by the request metrics.
        app.add_middleware(
            FastMessagePost,
            store=context.store,
            tokens=context.access,
            route=_route_of(messages.router, messages.create_message),
        )
    app.add_middleware(BodyLimit, max_bytes=context.settings.api.max_body_bytes)
    if trusted := list(context.settings.api.trusted_proxies):
        # uvicorn's own: the client is the last address in X-Forwarded-For that is not a
        # trusted proxy's, and only when the peer is one (docs/security.md).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    app.add_middleware(RequestMetrics, metrics=context.metrics)
    app.add_middleware(RequestBoundary)  # nothing escapes to the server
    if settings.allowed_origins:
        # Same-origin pages need no CORS; these are the other origins a browser may call from
        # (credentials: the refresh cookie). Outside the boundary: a 500 is readable there too.
        # Without any, no layer: it would grant nothing and cost every request its wrapping.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(SecurityHeaders)  # outermost: every answer carries them
    return app


def _route_of(router: APIRouter, endpoint: Callable[..., Any]) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


async def run_background(context: ApiContext) -> None:
    """The relay, what the store and the login throttle hold open, retention and
    availability announcements; runs until cancelled.

    If one of them fails, the others are cancelled and the error propagates: run this as a
    sibling of the server, so that the process dies rather than serving without a relay.
    """
    async with asyncio.TaskGroup() as group:
        group.create_task(context.store.run())
        group.create_task(context.login_throttle.run())
        group.create_task(context.relay.run(context.store))
        group.create_task(context.announcer.run())
        group.create_task(run_retention(context.engine, context.settings.api))
