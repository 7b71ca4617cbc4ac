"""`livedesk keys rotate|retire|list`: change the API's signing key directory.

The directory is `--key-dir`, else the one the API would use (`tokens.key_dir`, or
`<data_dir>/keys`). Running APIs notice a change within `tokens.key_check_interval_s`
without a restart; the procedure and its timings are in docs/security.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from livedesk.shared.key_set import KEY_SUFFIX, KeySetError, read_key_set, retire, rotate
from livedesk.shared.settings import Settings

EXIT_REFUSED = 1


def run(action: str, key_dir: str | None, kid: str | None) -> int:
    settings = Settings()
    try:
        directory = _directory(settings, key_dir)
        if action == "rotate":
            new = rotate(directory)
            ttl_s = settings.tokens.access_ttl_s
            sys.stdout.write(f"{new}\n")
            sys.stderr.write(
                f"signing with {new} from now on (running APIs within "
                f"{settings.tokens.key_check_interval_s:g} s); retire older keys once "
                f"tokens.access_ttl_s ({ttl_s} s) has passed\n"
            )
        elif action == "retire":
            assert kid is not None
            retire(directory, kid)
            sys.stderr.write(f"retired {kid}: tokens it signed are refused from now on\n")
        else:
            _list(directory)
    except KeySetError as refused:
        sys.stderr.write(f"livedesk keys {action}: {refused}\n")
        return EXIT_REFUSED
    return 0


def _directory(settings: Settings, key_dir: str | None) -> Path:
    if key_dir is not None:
        return Path(key_dir)
    if settings.tokens.private_key_path is not None:
        raise KeySetError(
            "the API signs with one key file (tokens.private_key_path), which cannot rotate; "
            "use a key directory (LIVEDESK_TOKENS__KEY_DIR) or pass --key-dir"
        )
    return settings.tokens.key_directory(settings.data_dir)


def _list(directory: Path) -> None:
    """One line per key, oldest first: kid, when it was added (UTC), and which is current."""
    keys = read_key_set(directory)
    added = {kid: (directory / f"{kid}{KEY_SUFFIX}").stat().st_mtime for kid in keys.private}
    for kid in sorted(added, key=lambda kid: (added[kid], kid)):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(added[kid]))
        line = "\t".join([kid, stamp, "current" if kid == keys.current else ""]).rstrip()
        sys.stdout.write(f"{line}\n")
