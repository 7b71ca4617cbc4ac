"""What the gateway asks the API: replayed events, the latest offset, conversation ownership.

The contract (brief): `GET {api_url}/v1/events?after=N&limit=M` with the bearer token of one of
the node's sockets of that account answers `{"events": [...], "latest_offset": L}`, or 410
`resync_required` when `after` is older than retention. There are no service credentials: a
gateway acts for an account only with a token of that account, so it cannot read another's.

Replayed events are validated and encoded again with `events.encode`, so the bytes a resumed
socket receives are the bytes the live stream carries.

Deliberately not here: retries and deciding what to fetch (gap_fill.py, catch_up.py); the
`ApiClient` protocol lets the one-process standalone mode answer from its own database without
HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import httpx
from pydantic import TypeAdapter, ValidationError

from livedesk.gateway.ordering import Item
from livedesk.gateway.sockets import OutFrame
from livedesk.shared.events import PersistentEvent, describe, encode

# `after` beyond any offset: the API answers no events and the latest offset. 2**53 - 1 keeps
# it exact in every JSON reader.
BEYOND_ANY_OFFSET: Final = 2**53 - 1

_events: TypeAdapter[list[PersistentEvent]] = TypeAdapter(list[PersistentEvent])


class ResyncRequired(Exception):
    """The offset asked for is older than the API's retention."""


class UpstreamUnavailable(Exception):
    """The API did not give a usable answer; the caller may try again later."""


@dataclass(frozen=True, slots=True)
class ReplayPage:
    items: list[Item]
    latest_offset: int


class ApiClient(Protocol):
    async def replay(self, token: str, after: int, limit: int) -> ReplayPage: ...

    async def latest_offset(self, token: str) -> int: ...

    async def owns_conversation(self, token: str, conversation_id: int) -> bool: ...


class HttpApiClient:
    def __init__(self, http: httpx.AsyncClient, api_url: str) -> None:
        self._http, self._base = http, api_url.rstrip("/")

    async def replay(self, token: str, after: int, limit: int) -> ReplayPage:
        url = f"{self._base}/v1/events"
        try:
            response = await self._http.get(
                url, params={"after": after, "limit": limit}, headers=_bearer(token)
            )
        except httpx.HTTPError as error:
            raise UpstreamUnavailable(f"replay: {error!r}") from None
        if response.status_code == 410:
            raise ResyncRequired(f"offset {after} is older than the API's retention")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"replay answered {response.status_code}")
        try:
            body = response.json()
            events = _events.validate_python(body["events"])
            latest = int(body["latest_offset"])
        except ValidationError as error:
            raise UpstreamUnavailable(f"replay sent invalid events: {describe(error)}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise UpstreamUnavailable(f"replay sent an unexpected body: {error!r}") from None
        items = [Item(e.offset, OutFrame(encode(e)), e.ts.timestamp()) for e in events]
        return ReplayPage(items, latest)

    async def latest_offset(self, token: str) -> int:
        return (await self.replay(token, BEYOND_ANY_OFFSET, 1)).latest_offset

    async def owns_conversation(self, token: str, conversation_id: int) -> bool:
        url = f"{self._base}/v1/conversations/{conversation_id}"
        try:
            response = await self._http.get(url, headers=_bearer(token))
        except httpx.HTTPError as error:
            raise UpstreamUnavailable(f"conversation check: {error!r}") from None
        if response.status_code == 200:
            return True
        # The API scopes every query to the token's account: another account's conversation
        # is "not found" to this caller, exactly as one that does not exist.
        if response.status_code in (403, 404):
            return False
        raise UpstreamUnavailable(f"conversation check answered {response.status_code}")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
