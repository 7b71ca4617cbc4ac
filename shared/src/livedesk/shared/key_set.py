"""The API's signing keys on disk, and the set a running API holds.

A key directory holds Ed25519 private keys named by their kid, and `current`, naming the
one to sign with:

    keys/current                    "20261205-033757-a1b2"
    keys/livedesk-1.key             PKCS#8 PEM, owner-only
    keys/20261205-033757-a1b2.key

Every key in the directory verifies (and is published in the JWKS); only the current one
signs. `livedesk keys rotate|retire|list` change it; production mounts it from a secret.
`KeyRing` is what an API process holds: it looks at the directory again at most every
`tokens.key_check_interval_s` (a few stats), and at once when a token names a kid it does
not hold or a verifier asks for the JWKS, so that of two workers the one that has not yet
noticed a rotation accepts, and publishes, the other's new key. Files are read only when what
the stats see has changed.

Not here: verifiers outside the API (`verifying_key`), token encoding (`tokens`).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from livedesk.shared.errors import LivedeskError
from livedesk.shared.key_files import create_exclusively, new_private_pem, replace_atomically
from livedesk.shared.tokens import KEY_ID, PRIVATE_KEY_FILE, TokenError, load_private_key

CURRENT_FILE: Final = "current"
KEY_SUFFIX: Final = ".key"
KID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

log = logging.getLogger(__name__)


class KeySetError(LivedeskError):
    """A key directory that cannot be used, or a change to it that is refused."""


@dataclass(frozen=True)
class KeySet:
    current: str
    private: Mapping[str, Ed25519PrivateKey]
    public: Mapping[str, Ed25519PublicKey] = field(init=False)

    def __post_init__(self) -> None:
        public = {kid: key.public_key() for kid, key in self.private.items()}
        object.__setattr__(self, "public", public)


def read_key_set(directory: Path) -> KeySet:
    """Every key of the directory; `KeySetError` when it names no current key it holds."""
    try:
        current = (directory / CURRENT_FILE).read_text().strip()
        private = {path.name.removesuffix(KEY_SUFFIX): path for path in _key_files(directory)}
        keys = {kid: load_private_key(path) for kid, path in private.items()}
    except (OSError, ValueError, TokenError) as error:
        raise KeySetError(f"cannot read the key directory {directory}: {error}") from None
    if current not in keys:
        raise KeySetError(f"{directory / CURRENT_FILE} names {current!r}, which has no key file")
    return KeySet(current, keys)


def _key_files(directory: Path) -> list[Path]:
    return [
        path
        for path in directory.iterdir()
        if path.name.endswith(KEY_SUFFIX) and KID_PATTERN.fullmatch(path.stem)
    ]


def ensure_key_set(directory: Path) -> None:
    """Make a key directory with one key unless it has a current key; for development and
    standalone (production mounts its keys).

    The first key is always named `KEY_ID`, so API workers starting together on an empty
    directory make the same files and whichever lands first is everyone's. A key pair made
    before key directories existed (`token_ed25519.pem`) becomes that first key, so the
    tokens it signed stay valid."""
    if (directory / CURRENT_FILE).exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    first = directory / f"{KEY_ID}{KEY_SUFFIX}"
    try:
        os.link(directory / PRIVATE_KEY_FILE, first)
    except (FileNotFoundError, FileExistsError):
        create_exclusively(first, new_private_pem())
    create_exclusively(directory / CURRENT_FILE, f"{KEY_ID}\n".encode())


def rotate(directory: Path, *, now: float | None = None) -> str:
    """Add a new key and make it current; the others stay and keep verifying. Its kid.
    On a directory without keys, this makes its first."""
    if (directory / CURRENT_FILE).exists():
        read_key_set(directory)  # refuse to add to a directory the API could not read
    else:
        directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    kid = f"{stamp}-{secrets.token_hex(2)}"
    if not create_exclusively(directory / f"{kid}{KEY_SUFFIX}", new_private_pem()):
        raise KeySetError(f"a key named {kid} is there already; try again")
    replace_atomically(directory / CURRENT_FILE, f"{kid}\n".encode())
    return kid


def retire(directory: Path, kid: str) -> None:
    """Remove a key that is not the current one: tokens it signed are refused from then on."""
    keys = read_key_set(directory)
    if kid == keys.current:
        raise KeySetError(f"{kid} is the current signing key; rotate first, then retire it")
    if kid not in keys.private:
        known = ", ".join(sorted(keys.private))
        raise KeySetError(f"no key named {kid!r} in {directory} (there are: {known})")
    (directory / f"{kid}{KEY_SUFFIX}").unlink()


def _fingerprint(directory: Path) -> frozenset[tuple[str, int, int, int]]:
    """What stats see of the files that matter: a change to any of them changes this.
    Stats follow links, as a Kubernetes secret mount swaps its files by a link."""
    seen: set[tuple[str, int, int, int]] = set()
    try:
        for path in [directory / CURRENT_FILE, *_key_files(directory)]:
            with_links = path.stat()
            seen.add((path.name, with_links.st_ino, with_links.st_mtime_ns, with_links.st_size))
    except OSError:
        pass  # a directory changing under us: the next look sees it settled
    return frozenset(seen)


class KeyRing:
    """An API process's keys: signs with the current one, verifies with all of them."""

    def __init__(
        self,
        directory: Path,
        *,
        check_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory, self._interval_s, self._clock = directory, check_interval_s, clock
        self._fingerprint = _fingerprint(directory)
        self._keys = read_key_set(directory)
        self._next_check = clock() + check_interval_s
        self._generation = 0

    def current(self) -> tuple[str, Ed25519PrivateKey]:
        keys = self._checked()
        return keys.current, keys.private[keys.current]

    def get(self, kid: str | None) -> Ed25519PublicKey | None:
        key = self._checked().public.get(kid or "")
        if key is None and self._look():
            key = self._keys.public.get(kid or "")
        return key

    async def refetch(self) -> bool:
        return self._look()

    def public_keys(self) -> Mapping[str, Ed25519PublicKey]:
        """For the JWKS: looks at the directory first, whatever the interval. A verifier asks
        because a token named a kid it does not hold, which one worker may sign with already
        while this one has not looked yet; a few stats per JWKS request cost nothing."""
        self._look()
        return self._keys.public

    def generation(self) -> int:
        """Grows whenever the set changes: what a cache of verified tokens is valid for."""
        self._checked()
        return self._generation

    def _checked(self) -> KeySet:
        if self._clock() >= self._next_check:
            self._look()
        return self._keys

    def _look(self) -> bool:
        """Read the directory again if it changed; whether the set did. A directory caught
        half-changed keeps the set read before, and is looked at again next time."""
        self._next_check = self._clock() + self._interval_s
        fingerprint = _fingerprint(self._directory)
        if fingerprint == self._fingerprint:
            return False
        try:
            keys = read_key_set(self._directory)
        except KeySetError as error:
            log.warning("keeping the signing keys read before: %s", error)
            return False
        self._keys, self._fingerprint = keys, fingerprint
        self._generation += 1
        log.info("signing keys: %s, current %s", ", ".join(sorted(keys.private)), keys.current)
        return True
