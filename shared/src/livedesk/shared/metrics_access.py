"""Who may read a service's /metrics: the one rule the API, gateways and presence apply.

Metrics name routes, queue depths and socket counts: nothing of a tenant's, but a map of the
system and its load that an outsider should not read. With `metrics_token` set, a scrape must
send `Authorization: Bearer <token>` (Prometheus' `authorization` block does); without one,
only a loopback client is served, so a development machine needs nothing and a deployment
that forgot the token shows nothing. Not here: the response each server builds from the answer.
"""

from __future__ import annotations

import hmac
import ipaddress
from enum import Enum

from pydantic import SecretStr


class MetricsAccess(Enum):
    """The answer, with the status, error code and message of a refusal."""

    ALLOWED = (200, "", "")
    # A token is configured and this request did not send it.
    NO_TOKEN = (401, "not_authenticated", "metrics need Authorization: Bearer <metrics token>")
    # No token is configured and the client is not on loopback.
    NOT_LOOPBACK = (403, "forbidden", "metrics are for loopback clients unless a token is set")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def code(self) -> str:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]


def metrics_access(
    authorization: str | None, client_host: str | None, token: SecretStr | None
) -> MetricsAccess:
    """`authorization`: the request's header; `client_host`: the peer's address."""
    if token is None:
        return MetricsAccess.ALLOWED if _loopback(client_host) else MetricsAccess.NOT_LOOPBACK
    scheme, _, sent = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected):
        return MetricsAccess.ALLOWED
    return MetricsAccess.NO_TOKEN


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # a dual-stack socket's IPv4 peer
    return address.is_loopback
