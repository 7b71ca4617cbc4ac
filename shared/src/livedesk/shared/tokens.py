"""Access tokens: signed by the API with Ed25519, verified everywhere with the public key.

A token names the user, the account and the role; it is the only source of the account a
request or a socket acts for. Gateways and presence hold public keys alone (from a file, or
from the API's JWKS), so a compromised gateway cannot mint tokens.

Several keys may be valid at once (rotation, docs/security.md): a token's header names its
key (`kid`), the signer signs with whichever key `SigningKeys` says is current, and the
verifier asks `VerifyingKeys` for the key by that name. Where the keys come from (a key
directory, a JWKS) is `key_set`'s and `verifying_key`'s.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from livedesk.shared.errors import LivedeskError
from livedesk.shared.key_files import create_exclusively, new_private_pem, replace_atomically

ALGORITHM: Final = "EdDSA"
KEY_ID: Final = "livedesk-1"  # the key of a single-file configuration (`private_key_path`)
PRIVATE_KEY_FILE: Final = "token_ed25519.pem"
PUBLIC_KEY_FILE: Final = "token_ed25519.pub.pem"


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class TokenError(LivedeskError):
    """A token that must be refused; `code` is `token_expired` or `token_invalid`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class UnknownKeyId(TokenError):
    """The token names a key the verifier does not hold (yet: the set may have rotated)."""

    def __init__(self) -> None:
        super().__init__("token_invalid", "the token is not valid")


class SigningKeys(Protocol):
    def current(self) -> tuple[str, Ed25519PrivateKey]:
        """The key to sign with now, and its kid."""
        ...


class VerifyingKeys(Protocol):
    def get(self, kid: str | None) -> Ed25519PublicKey | None:
        """The key named `kid`, or None when the set holds no such key."""
        ...

    async def refetch(self) -> bool:
        """Look for keys added since the set was read; whether the set changed."""
        ...


@dataclass(frozen=True, slots=True)
class FixedKey:
    """One key under one name: tests, benchmarks, and a single key file.

    `any_kid`: a public key read from a PEM file has no name of its own, so it verifies
    whatever `kid` a token carries, as a one-key configuration always has."""

    private: Ed25519PrivateKey | None
    public: Ed25519PublicKey
    kid: str = KEY_ID
    any_kid: bool = False

    @classmethod
    def signing(cls, key: Ed25519PrivateKey, kid: str = KEY_ID) -> FixedKey:
        return cls(key, key.public_key(), kid)

    def current(self) -> tuple[str, Ed25519PrivateKey]:
        assert self.private is not None, "a public key cannot sign"
        return self.kid, self.private

    def get(self, kid: str | None) -> Ed25519PublicKey | None:
        return self.public if self.any_kid or kid == self.kid else None

    async def refetch(self) -> bool:
        return False

    def public_keys(self) -> Mapping[str, Ed25519PublicKey]:
        return {self.kid: self.public}

    def generation(self) -> int:
        return 0  # never changes


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    account_id: int
    role: Role
    expires_at: float  # seconds since the epoch
    # The login's session (its refresh-token family), which revocation names; None in tokens
    # minted by tooling that holds the signing key, which no session can revoke.
    session_id: int | None = None


class TokenSigner:
    def __init__(self, keys: Ed25519PrivateKey | SigningKeys, *, issuer: str, ttl_s: int) -> None:
        self._keys = FixedKey.signing(keys) if isinstance(keys, Ed25519PrivateKey) else keys
        self._issuer, self._ttl_s = issuer, ttl_s

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The current key's public half."""
        return self._keys.current()[1].public_key()

    def issue(
        self,
        *,
        user_id: int,
        account_id: int,
        role: Role,
        now: float | None = None,
        session_id: int | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "sub": str(user_id),
            "acct": account_id,
            "role": role.value,
            "iat": issued,
            "exp": issued + self._ttl_s,
        }
        if session_id is not None:
            payload["sid"] = session_id
        kid, key = self._keys.current()
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid})

    @property
    def ttl_s(self) -> int:
        return self._ttl_s


class TokenVerifier:
    def __init__(self, keys: Ed25519PublicKey | VerifyingKeys, *, issuer: str) -> None:
        if isinstance(keys, Ed25519PublicKey):
            keys = FixedKey(None, keys, any_kid=True)
        self.keys: VerifyingKeys = keys
        self._issuer = issuer

    def verify(self, token: str) -> Claims:
        """The token's claims; `UnknownKeyId` when it names a key not in the set (a caller
        that can wait may `keys.refetch()` and try again), `TokenError` for any other fault."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.get(kid if isinstance(kid, str) else None)
            if key is None:
                raise UnknownKeyId
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],  # never trust the token's own `alg`
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss"]},
            )
            return Claims(
                user_id=int(payload["sub"]),
                account_id=int(payload["acct"]),
                role=Role(payload["role"]),
                expires_at=float(payload["exp"]),
                session_id=None if (sid := payload.get("sid")) is None else int(sid),
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired", "the token has expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            # The decoder's reason ("'utf-8' codec can't decode byte 0xb7") helps nobody
            # holding a bad token, and tells a prober how the token is read.
            raise TokenError("token_invalid", "the token is not valid") from None


def ensure_key_pair(directory: Path) -> tuple[Path, Path]:
    """Make an Ed25519 key pair under `directory` unless one is there; return both paths.

    For development and standalone only: production mounts its keys from a secret. Safe
    when several processes start at once on an empty directory (`livedesk api --workers 2`):
    the first private key to land is the pair's, whoever made it, and the public key is
    always derived from that file. Checking and then writing let each worker keep a key of
    its own, so a token one worker signed failed verification in the other.
    """
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if not private_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        create_exclusively(private_path, new_private_pem())
    if not public_path.exists():
        public = public_pem(load_private_key(private_path).public_key())
        replace_atomically(public_path, public)  # every writer writes the same bytes
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TokenError("token_key", f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TokenError("token_key", f"{path} is not an Ed25519 public key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwks(keys: Ed25519PublicKey | Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """Public keys by kid as a JWK Set (RFC 8037 OKP), served at /.well-known/jwks.json."""
    named = {KEY_ID: keys} if isinstance(keys, Ed25519PublicKey) else keys
    return {"keys": [_jwk(kid, key) for kid, key in sorted(named.items())]}


def _jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def public_keys_from_jwks(document: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWK Set by kid (PyJWT reads the JWKs); keys of other types, or
    without a kid, are skipped. `TokenError` when none is left."""
    try:
        jwk_set = jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWKSetError as error:
        raise TokenError("token_key", f"no usable key in the JWK set: {error}") from None
    keys = {
        jwk.key_id: jwk.key
        for jwk in jwk_set.keys
        if jwk.key_id and isinstance(jwk.key, Ed25519PublicKey)
    }
    if not keys:
        raise TokenError("token_key", "no Ed25519 key with a kid in the JWK set")
    return keys


def public_key_from_jwks(document: dict[str, Any]) -> Ed25519PublicKey:
    """The first Ed25519 key of a JWK Set, for a caller that holds one key."""
    return next(iter(public_keys_from_jwks(document).values()))
