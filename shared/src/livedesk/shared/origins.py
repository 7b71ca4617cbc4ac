"""The one rule for which web origins may open a socket or call the API from a browser.

A browser sends `Origin` with every WebSocket upgrade and cross-origin request; a page from
another site must not ride on the user's network position or cookies. Allowed: no `Origin`
at all (a non-browser client, which could send any header anyway), an origin whose host and
port are the `Host` the request was sent to (same origin), and the origins an operator lists
in `allowed_origins`. The API (CORS), the gateway and the standalone process all ask
`origin_allowed`. Not here: turning the answer into a response (each server does that).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final
from urllib.parse import urlsplit

DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(text: str) -> str:
    """`scheme://host[:port]` in lower case, the default port dropped; ValueError otherwise."""
    parts = urlsplit(text.strip().rstrip("/").lower())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin (http[s]://host[:port])")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r} is not an origin: no path, query or user part")
    port = parts.port  # itself a ValueError when out of range
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def parse_origins(value: object) -> tuple[str, ...]:
    """A comma-separated string (as the environment gives it) or a sequence of origins."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Collection):
        raise ValueError("allowed origins: a comma-separated list of origins")
    return tuple(normalize_origin(str(item)) for item in items if str(item).strip())


def origin_allowed(origin: str | None, host: str | None, allowed: Collection[str]) -> bool:
    """Whether a request carrying `Origin: origin`, sent to `Host: host`, may go on.

    `allowed` holds normalized origins (`parse_origins`). The literal `null` (a sandboxed
    frame, a file: page) is refused unless listed: it names no site to trust.
    """
    if origin is None:
        return True
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return origin.strip().lower() in allowed
    return normalized in allowed or (host is not None and _same_host(normalized, host))


def _same_host(origin: str, host: str) -> bool:
    """The Host header names the origin's host and port (the scheme's default when absent)."""
    scheme, _, netloc = origin.partition("://")
    try:
        sent_to = urlsplit(f"{scheme}://{host.strip().lower()}")
        port = sent_to.port
    except ValueError:
        return False
    if sent_to.hostname is None:
        return False
    sent = f"[{sent_to.hostname}]" if ":" in sent_to.hostname else sent_to.hostname
    if port is not None and port != DEFAULT_PORTS[scheme]:
        sent = f"{sent}:{port}"
    return netloc == sent
