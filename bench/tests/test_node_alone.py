"""The node-alone target's stub answers what the gateway asks of the API and of presence,
read by the gateway's own clients: a stub the gateway misreads would measure a node that
retries, logs and falls back instead of one that serves."""

from __future__ import annotations

import logging

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.fanout.node_alone import StubApi
from livedesk.gateway.api_client import HttpApiClient
from livedesk.gateway.presence_client import HttpPresenceLookup
from livedesk.shared.tokens import Role, TokenSigner


async def test_the_stub_answers_the_gateways_requests_as_the_api_and_presence_would(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signer = TokenSigner(Ed25519PrivateKey.generate(), issuer="livedesk", ttl_s=60)
    token = signer.issue(user_id=3, account_id=42, role=Role.AGENT)
    stub = StubApi()
    await stub.start()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            api, presence = HttpApiClient(http, stub.url), HttpPresenceLookup(http, stub.url)
            assert await api.latest_offset(token) == 0
            page = await api.replay(token, after=0, limit=100)
            assert (page.items, page.latest_offset) == ([], 0)
            assert await api.owns_conversation(token, 7)
            assert await presence.presence_state(token) == {}
            assert await presence.typers(token, 7) == []
    finally:
        await stub.stop()
    # The presence lookups fall back to "nobody" when an answer is unreadable, and say so.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
