"""`RemoteKeys`: the keys of a service that only verifies, refreshed from the API's JWKS or a
file, on a fake clock; never read twice within the floor, however many unknown kids come."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from livedesk.shared.lifecycle import Unavailable
from livedesk.shared.settings import Settings, TokenSettings
from livedesk.shared.tokens import (
    Role,
    TokenError,
    TokenSigner,
    TokenVerifier,
    jwks,
    public_pem,
)
from livedesk.shared.verifying_key import (
    RemoteKeys,
    jwks_url,
    load_keys,
    remote_keys,
    verify_fetching,
)

FLOOR_S = 5.0


class FakeClock:
    """Time that moves only when told, or when a sleeper sleeps (and says how long)."""

    def __init__(self) -> None:
        self.now, self.slept = 100.0, list[float]()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Source:
    """A JWKS in memory: the test changes `published`; `reads` counts what was asked."""

    def __init__(self, published: Mapping[str, Ed25519PublicKey]) -> None:
        self.published, self.reads, self.down = dict(published), 0, False

    async def __call__(self) -> Mapping[str, Ed25519PublicKey]:
        self.reads += 1
        await asyncio.sleep(0)  # a real read yields: concurrent callers overlap
        if self.down:
            raise httpx.ConnectError("the API is down")
        return dict(self.published)


class Named:
    def __init__(self, kid: str) -> None:
        self.kid, self.key = kid, Ed25519PrivateKey.generate()

    def current(self) -> tuple[str, Ed25519PrivateKey]:
        return self.kid, self.key

    def token(self) -> str:
        signer = TokenSigner(self, issuer="livedesk", ttl_s=600)
        return signer.issue(user_id=1, account_id=2, role=Role.AGENT)


async def loaded(source: Source, clock: FakeClock) -> RemoteKeys:
    keys = RemoteKeys(source, refresh_s=300, min_interval_s=FLOOR_S, clock=clock, sleep=clock.sleep)
    await keys.load()
    return keys


async def test_an_unknown_kid_refetches_once_the_floor_has_passed() -> None:
    old, new, clock = Named("old"), Named("new"), FakeClock()
    source = Source({"old": old.key.public_key()})
    keys = await loaded(source, clock)
    verifier = TokenVerifier(keys, issuer="livedesk")
    source.published["new"] = new.key.public_key()  # the API rotated just now

    clock.now += FLOOR_S - 0.5
    assert (await verify_fetching(verifier, new.token())).account_id == 2
    assert clock.slept == [pytest.approx(0.5)]  # waited out the floor, then read
    assert source.reads == 2

    clock.now += FLOOR_S
    assert (await verify_fetching(verifier, new.token())).account_id == 2
    assert len(clock.slept) == 1  # known now: no wait,
    assert source.reads == 2  # and no read


async def test_made_up_kids_cost_one_read_per_floor() -> None:
    clock = FakeClock()
    source = Source({"old": Named("old").key.public_key()})
    verifier = TokenVerifier(await loaded(source, clock), issuer="livedesk")
    for _ in range(3):
        with pytest.raises(TokenError, match="token_invalid"):
            await verify_fetching(verifier, Named("made-up").token())
    assert source.reads == 4  # the load, then one read per floor
    assert clock.slept == [pytest.approx(FLOOR_S)] * 3


async def test_many_unknown_kids_at_once_cost_one_read() -> None:
    clock = FakeClock()
    source = Source({"old": Named("old").key.public_key()})
    keys = await loaded(source, clock)
    verifier = TokenVerifier(keys, issuer="livedesk")

    made_up = [Named(f"made-up-{n}").token() for n in range(20)]
    answers = await asyncio.gather(
        *(verify_fetching(verifier, t) for t in made_up), return_exceptions=True
    )
    assert all(isinstance(a, TokenError) and a.code == "token_invalid" for a in answers)
    assert source.reads == 2


async def test_the_periodic_refresh_drops_a_retired_key() -> None:
    old = Named("old")
    source = Source({"old": old.key.public_key(), "new": Named("new").key.public_key()})
    keys = RemoteKeys(source, refresh_s=0.01, min_interval_s=FLOOR_S)
    await keys.load()
    verifier = TokenVerifier(keys, issuer="livedesk")
    assert verifier.verify(old.token()).user_id == 1

    del source.published["old"]
    async with keys.refreshing():
        async with asyncio.timeout(5):
            while keys.get("old") is not None:  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.01)
    with pytest.raises(TokenError, match="token_invalid"):
        verifier.verify(old.token())


async def test_a_source_that_fails_later_keeps_the_keys_read_before() -> None:
    clock, old = FakeClock(), Named("old")
    source = Source({"old": old.key.public_key()})
    keys = await loaded(source, clock)
    source.down = True
    clock.now += FLOOR_S
    assert await keys.refetch() is False
    assert TokenVerifier(keys, issuer="livedesk").verify(old.token()).user_id == 1


def settings_with(**tokens: object) -> Settings:
    return Settings(api_url="http://api.test", tokens=TokenSettings.model_validate(tokens))


async def test_a_pem_file_verifies_any_kid(tmp_path: Path) -> None:
    signer = Named("whatever")
    (tmp_path / "key.pem").write_bytes(public_pem(signer.key.public_key()))
    config = settings_with(public_key_path=tmp_path / "key.pem")
    async with httpx.AsyncClient() as http:
        keys = remote_keys(config, http)
        await load_keys(config, keys, 5.0)
    assert TokenVerifier(keys, issuer="livedesk").verify(signer.token()).user_id == 1


async def test_a_jwks_file_verifies_by_kid_and_is_read_again(tmp_path: Path) -> None:
    old, new, clock = Named("old"), Named("new"), FakeClock()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks({"old": old.key.public_key()})))
    config = settings_with(public_key_path=path, jwks_min_interval_s=FLOOR_S)
    async with httpx.AsyncClient() as http:
        keys = remote_keys(config, http, clock)
        await load_keys(config, keys, 5.0)
    verifier = TokenVerifier(keys, issuer="livedesk")
    assert verifier.verify(old.token()).user_id == 1

    path.write_text(json.dumps(jwks({"old": old.key.public_key(), "new": new.key.public_key()})))
    clock.now += FLOOR_S
    assert (await verify_fetching(verifier, new.token())).user_id == 1


async def test_an_unreadable_key_file_ends_the_service_at_once(tmp_path: Path) -> None:
    config = settings_with(public_key_path=tmp_path / "missing.pem")
    async with httpx.AsyncClient() as http:
        keys = remote_keys(config, http)
        with pytest.raises(Unavailable, match=r"cannot read the token key file .*missing\.pem"):
            await load_keys(config, keys, 5.0)


async def test_the_jwks_url_can_be_any_https_address() -> None:
    assert jwks_url(settings_with()) == "http://api.test/.well-known/jwks.json"
    elsewhere = "https://keys.example.org/jwks.json"
    assert jwks_url(settings_with(jwks_url=elsewhere)) == elsewhere
    served = Named("k1")

    def api(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == elsewhere
        return httpx.Response(200, json=jwks({"k1": served.key.public_key()}))

    config = settings_with(jwks_url=elsewhere)
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        keys = remote_keys(config, http)
        await load_keys(config, keys, 5.0)
    assert TokenVerifier(keys, issuer="livedesk").verify(served.token()).user_id == 1
