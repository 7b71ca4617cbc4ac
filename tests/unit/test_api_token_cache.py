"""The API's cache of verified tokens: answers like the verifier, never past expiry."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from livedesk.api.token_cache import CachingVerifier
from livedesk.shared.tokens import Claims, Role, TokenError, TokenSigner, TokenVerifier

TTL_S = 60


class CountingVerifier(TokenVerifier):
    def __init__(self, signer: TokenSigner) -> None:
        super().__init__(signer.public_key, issuer="test")
        self.calls = 0

    def verify(self, token: str) -> Claims:
        self.calls += 1
        return super().verify(token)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(Ed25519PrivateKey.generate(), issuer="test", ttl_s=TTL_S)


def test_a_token_is_verified_once_and_then_answered_from_the_cache(signer: TokenSigner) -> None:
    inner, clock = CountingVerifier(signer), Clock()
    cache = CachingVerifier(inner, clock=clock)
    token = signer.issue(user_id=7, account_id=3, role=Role.AGENT, now=clock.now)
    first = cache.verify(token)
    assert cache.verify(token) == first
    assert (first.user_id, first.account_id, first.role) == (7, 3, Role.AGENT)
    assert inner.calls == 1


def test_a_cached_token_is_refused_from_its_expiry_on(signer: TokenSigner) -> None:
    clock = Clock()
    cache = CachingVerifier(CountingVerifier(signer), clock=clock)
    token = signer.issue(user_id=7, account_id=3, role=Role.AGENT, now=clock.now)
    claims = cache.verify(token)
    clock.now = claims.expires_at - 0.001
    assert cache.verify(token) == claims
    clock.now = claims.expires_at
    with pytest.raises(TokenError) as refused:
        cache.verify(token)
    assert refused.value.code == "token_expired"
    assert len(cache) == 0  # forgotten: next time the full check decides again


def test_bad_tokens_are_checked_every_time_and_never_remembered(signer: TokenSigner) -> None:
    inner = CountingVerifier(signer)
    cache = CachingVerifier(inner)
    token = signer.issue(user_id=7, account_id=3, role=Role.AGENT)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(TokenError) as refused:
            cache.verify(forged)
        assert refused.value.code == "token_invalid"
    assert inner.calls == 2
    assert len(cache) == 0
    expired = signer.issue(user_id=7, account_id=3, role=Role.AGENT, now=time.time() - 2 * TTL_S)
    with pytest.raises(TokenError) as too_old:
        cache.verify(expired)
    assert too_old.value.code == "token_expired"
    assert len(cache) == 0


def test_the_cache_is_bounded_and_forgets_the_least_recently_used(signer: TokenSigner) -> None:
    inner = CountingVerifier(signer)
    cache = CachingVerifier(inner, max_tokens=2)
    tokens = [signer.issue(user_id=u, account_id=1, role=Role.AGENT) for u in (1, 2, 3)]
    cache.verify(tokens[0])
    cache.verify(tokens[1])
    cache.verify(tokens[0])  # used again: tokens[1] is now the least recently used
    cache.verify(tokens[2])
    assert len(cache) == 2
    calls = inner.calls
    cache.verify(tokens[0])
    assert inner.calls == calls  # still cached
    cache.verify(tokens[1])
    assert inner.calls == calls + 1  # was evicted, verified afresh
