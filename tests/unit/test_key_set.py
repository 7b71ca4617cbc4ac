"""The API's key directory: made, rotated and retired; what a running API's `KeyRing` sees."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from livedesk.api.token_cache import CachingVerifier
from livedesk.shared.key_set import (
    CURRENT_FILE,
    KeyRing,
    KeySetError,
    ensure_key_set,
    read_key_set,
    retire,
    rotate,
)
from livedesk.shared.tokens import (
    KEY_ID,
    PRIVATE_KEY_FILE,
    Role,
    TokenError,
    TokenSigner,
    TokenVerifier,
    ensure_key_pair,
    load_private_key,
    public_pem,
)

CHECK_INTERVAL_S = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def token(ring: KeyRing) -> str:
    return TokenSigner(ring, issuer="livedesk", ttl_s=600).issue(
        user_id=1, account_id=2, role=Role.AGENT
    )


def test_a_fresh_directory_gets_one_owner_only_current_key(tmp_path: Path) -> None:
    ensure_key_set(tmp_path / "keys")
    ensure_key_set(tmp_path / "keys")  # a second worker, or a restart: nothing changes

    keys = read_key_set(tmp_path / "keys")
    assert (keys.current, list(keys.private)) == (KEY_ID, [KEY_ID])
    assert stat.S_IMODE((tmp_path / "keys" / f"{KEY_ID}.key").stat().st_mode) == 0o600


def test_a_key_pair_made_before_key_directories_keeps_signing_as_the_first_key(
    tmp_path: Path,
) -> None:
    private_path, _ = ensure_key_pair(tmp_path)  # what an older API left in data/keys
    ensure_key_set(tmp_path)

    keys = read_key_set(tmp_path)
    assert keys.current == KEY_ID
    kept = public_pem(load_private_key(tmp_path / PRIVATE_KEY_FILE).public_key())
    assert public_pem(keys.public[KEY_ID]) == kept
    assert private_path.exists()


def test_rotate_makes_a_new_current_key_and_keeps_the_old(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    new = rotate(tmp_path)

    keys = read_key_set(tmp_path)
    assert keys.current == new
    assert set(keys.private) == {KEY_ID, new}


def test_rotate_on_an_empty_directory_makes_its_first_key(tmp_path: Path) -> None:
    new = rotate(tmp_path / "keys")
    assert read_key_set(tmp_path / "keys").current == new


def test_retire_removes_a_key_that_no_longer_signs(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    new = rotate(tmp_path)
    retire(tmp_path, KEY_ID)
    assert set(read_key_set(tmp_path).private) == {new}


def test_the_current_key_cannot_be_retired(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    with pytest.raises(KeySetError, match="is the current signing key; rotate first"):
        retire(tmp_path, KEY_ID)
    assert KEY_ID in read_key_set(tmp_path).private


def test_an_unknown_key_cannot_be_retired(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    with pytest.raises(KeySetError, match=f"no key named 'nope'.*there are: {KEY_ID}"):
        retire(tmp_path, "nope")


def test_a_directory_naming_a_missing_key_is_refused(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    (tmp_path / CURRENT_FILE).write_text("gone\n")
    with pytest.raises(KeySetError, match="names 'gone', which has no key file"):
        read_key_set(tmp_path)


def test_the_ring_signs_with_a_rotated_key_after_its_check_interval(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    clock = FakeClock()
    ring = KeyRing(tmp_path, check_interval_s=CHECK_INTERVAL_S, clock=clock)
    new = rotate(tmp_path)

    assert ring.current()[0] == KEY_ID  # not looked at again yet
    clock.now += CHECK_INTERVAL_S
    assert ring.current()[0] == new


def test_the_ring_looks_at_once_for_a_kid_another_worker_signs_with(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    clock = FakeClock()
    this, other = (KeyRing(tmp_path, check_interval_s=60, clock=clock) for _ in range(2))
    rotate(tmp_path)
    clock.now += 60
    fresh = token(other)  # the other worker has noticed the rotation, this one not

    claims = TokenVerifier(this, issuer="livedesk").verify(fresh)
    assert claims.account_id == 2


def test_a_retired_key_is_refused_even_for_a_token_the_cache_holds(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    clock = FakeClock()
    ring = KeyRing(tmp_path, check_interval_s=CHECK_INTERVAL_S, clock=clock)
    cache = CachingVerifier(TokenVerifier(ring, issuer="livedesk"), key_generation=ring.generation)
    old = token(ring)
    assert cache.verify(old).user_id == 1

    rotate(tmp_path)
    clock.now += CHECK_INTERVAL_S
    assert cache.verify(old).user_id == 1  # rotated: still good
    retire(tmp_path, KEY_ID)
    clock.now += CHECK_INTERVAL_S
    with pytest.raises(TokenError, match="token_invalid"):
        cache.verify(old)


def test_a_directory_caught_half_changed_keeps_the_keys_read_before(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    clock = FakeClock()
    ring = KeyRing(tmp_path, check_interval_s=CHECK_INTERVAL_S, clock=clock)
    (tmp_path / CURRENT_FILE).write_text("not-there-yet\n")
    clock.now += CHECK_INTERVAL_S
    assert ring.current()[0] == KEY_ID


def test_a_token_of_a_key_never_in_the_directory_is_invalid(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    ring = KeyRing(tmp_path, check_interval_s=CHECK_INTERVAL_S)
    stranger = TokenSigner(Ed25519PrivateKey.generate(), issuer="livedesk", ttl_s=60)
    forged = stranger.issue(user_id=1, account_id=2, role=Role.ADMIN)  # kid livedesk-1 too
    with pytest.raises(TokenError, match="token_invalid"):
        TokenVerifier(ring, issuer="livedesk").verify(forged)


def test_the_published_keys_are_looked_up_at_once(tmp_path: Path) -> None:
    ensure_key_set(tmp_path)
    ring = KeyRing(tmp_path, check_interval_s=60, clock=FakeClock())
    new = rotate(tmp_path)  # another worker may sign with it already
    assert set(ring.public_keys()) == {KEY_ID, new}
