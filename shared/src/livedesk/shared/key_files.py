"""Writing key files so that no reader ever sees half of one, and no writer loses a race.

Several processes may make keys in one directory at once (`livedesk api --workers 2` on an
empty data dir, or `livedesk keys rotate` beside a running API): every file lands whole, by a
link or a rename of a finished temporary file. Not here: what the files mean (`tokens`,
`key_set`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create_exclusively(path: Path, data: bytes) -> bool:
    """Put `data` at `path`, complete and owner-only, unless a file is there already; whether
    this call put it there."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp's file is owner-only (0o600)
            file.write(data)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # atomic, and never over an existing file
            return True
        return False
    finally:
        os.unlink(temporary)


def replace_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
