"""Access tokens: signed by the API with Ed25519, verified everywhere with the public key.

A token names the user, the account and the role; it is the only source of the account a
request or a socket acts for. Gateways and presence hold the public key alone (from a PEM
file, or from the API's JWKS), so a compromised gateway cannot mint tokens.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from livedesk.shared.errors import LivedeskError

ALGORITHM: Final = "EdDSA"
KEY_ID: Final = "livedesk-1"
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
    def __init__(self, private_key: Ed25519PrivateKey, *, issuer: str, ttl_s: int) -> None:
        self._key, self._issuer, self._ttl_s = private_key, issuer, ttl_s

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

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
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": KEY_ID})

    @property
    def ttl_s(self) -> int:
        return self._ttl_s


class TokenVerifier:
    def __init__(self, public_key: Ed25519PublicKey, *, issuer: str) -> None:
        self._key, self._issuer = public_key, issuer

    def verify(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._key,
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
        _create_exclusively(private_path, _new_private_pem())
    if not public_path.exists():
        public = public_pem(load_private_key(private_path).public_key())
        _replace_atomically(public_path, public)  # every writer writes the same bytes
    return private_path, public_path


def _new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _create_exclusively(path: Path, data: bytes) -> None:
    """Put `data` at `path`, complete and owner-only, unless a file is there already."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp's file is owner-only (0o600)
            file.write(data)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # atomic, and never over an existing file
    finally:
        os.unlink(temporary)


def _replace_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


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


def jwks(key: Ed25519PublicKey) -> dict[str, Any]:
    """The public key as a JWK Set (RFC 8037 OKP), served at /.well-known/jwks.json."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KEY_ID, "alg": ALGORITHM, "use": "sig"}
    return {"keys": [jwk]}


def public_key_from_jwks(document: dict[str, Any]) -> Ed25519PublicKey:
    for jwk in document.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            x = str(jwk["x"])
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            return Ed25519PublicKey.from_public_bytes(raw)
    raise TokenError("token_key", "no Ed25519 key in the JWK set")
