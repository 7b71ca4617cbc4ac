"""`ensure_key_pair` when several processes make the key pair at once (API workers)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from livedesk.shared import key_files
from livedesk.shared.tokens import (
    PRIVATE_KEY_FILE,
    ensure_key_pair,
    load_private_key,
    load_public_key,
    public_pem,
)


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_a_new_pair_is_made_owner_only_and_matching(tmp_path: Path) -> None:
    private_path, public_path = ensure_key_pair(tmp_path / "keys")

    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert public_path.read_bytes() == public_pem(load_private_key(private_path).public_key())
    assert ensure_key_pair(tmp_path / "keys") == (private_path, public_path)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(
        [private_path.name, public_path.name]
    )


def test_a_key_another_process_wrote_first_is_kept_and_the_public_key_is_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "keys"
    rival = Ed25519PrivateKey.generate()

    make_own = key_files.new_private_pem

    def raced() -> bytes:
        """Another worker's key lands while this one makes its own."""
        (directory / PRIVATE_KEY_FILE).write_bytes(pem(rival))
        return make_own()

    monkeypatch.setattr("livedesk.shared.tokens.new_private_pem", raced)
    private_path, public_path = ensure_key_pair(directory)

    assert private_path.read_bytes() == pem(rival)
    assert public_pem(load_public_key(public_path)) == public_pem(rival.public_key())
    assert len(list(directory.iterdir())) == 2  # no temporary file left behind
