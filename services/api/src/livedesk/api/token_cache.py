"""Remember verified tokens, so a client's every request does not pay an Ed25519 verify.

An agent's browser or a channel bot sends the same access token on every request until it
expires, and a signature check is a visible share of a message write's CPU.
`CachingVerifier` keeps the claims of tokens it verified, keyed by the whole token string
(so a token that differs in any byte, a forged one included, is verified afresh), bounded
in count (least recently used goes first), and never answers from the cache at or after a
token's expiry: an expired token is refused exactly as the signature check would refuse it.

Only successes are cached: a bad token costs its full check every time, so the cache can
not be filled by garbage, nor remember a refusal. The cache is emptied when the key set
changes (`key_generation`), so a token of a retired key is refused like an uncached one.
Not here: revocation (access tokens are short-lived and not revocable, in or out of the
cache).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from livedesk.shared.tokens import Claims, TokenError, TokenVerifier

# Distinct live tokens remembered by one API process. A token is ~300 bytes and its claims
# a small object: 10,000 is a few MB, and more agents than one process serves at once.
DEFAULT_MAX_TOKENS = 10_000


class CachingVerifier:
    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        clock: Callable[[], float] = time.time,
        key_generation: Callable[[], int] = lambda: 0,
    ) -> None:
        self._verifier, self._max, self._clock = verifier, max_tokens, clock
        self._key_generation = key_generation
        self._generation = key_generation()
        self._known: OrderedDict[str, Claims] = OrderedDict()

    def verify(self, token: str) -> Claims:
        if (generation := self._key_generation()) != self._generation:
            self._known.clear()
            self._generation = generation
        claims = self._known.get(token)
        if claims is not None:
            if self._clock() < claims.expires_at:
                self._known.move_to_end(token)
                return claims
            del self._known[token]
            raise TokenError("token_expired", "the token has expired")
        claims = self._verifier.verify(token)  # raises for a bad or expired token
        self._known[token] = claims
        if len(self._known) > self._max:
            self._known.popitem(last=False)
        return claims

    def __len__(self) -> int:
        return len(self._known)
