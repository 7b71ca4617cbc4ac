"""Decode what arrives on the presence queue, big heartbeats in slices.

Validating a heartbeat of tens of thousands of sockets into pydantic models in one call holds
the event loop long enough for typing expiries to drift by as much (docs/performance.md,
Presence), and a thread does not help: pydantic-core keeps the GIL. So a big heartbeat is parsed
with `json.loads`, its envelope validated as a `NodeHeartbeat`, and its sockets validated slice
by slice against the same field types as `SocketRef` (into plain tuples, cheaper than models),
yielding to the loop between slices. Everything else, and anything the
fast path does not recognise, goes through `decode_message`, so errors read the same.

It deliberately does not apply anything: the consumer hands the result to the state.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Final

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from livedesk.presence.records import SocketTuple
from livedesk.shared.errors import EventError
from livedesk.shared.events import AccountId, ObjectId, describe
from livedesk.shared.presence_messages import (
    MAX_MESSAGE_BYTES,
    NodeHeartbeat,
    PresenceMessage,
    SocketId,
    decode_message,
)

# Below this a heartbeat (about 1,000 sockets) validates quickly enough: not worth a detour.
FAST_PATH_BYTES: Final = 64 * 1024
# The most sockets validated per turn of the loop: what bounds how long the loop waits.
SLICE_SOCKETS: Final = 5_000


@with_config(ConfigDict(extra="forbid"))
class _SocketFields(TypedDict):
    # The fields and types of presence_messages.SocketRef; a test keeps the two in step.
    socket_id: SocketId
    account_id: AccountId
    user_id: ObjectId


_slice: TypeAdapter[list[_SocketFields]] = TypeAdapter(list[_SocketFields])


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decoded heartbeat whose sockets are tuples; `beat.sockets` is empty."""

    beat: NodeHeartbeat
    sockets: list[SocketTuple]


async def decode(body: bytes) -> PresenceMessage | Snapshot:
    """Decode one message; raise `EventError` (as `decode_message` does) when it is invalid."""
    if len(body) < FAST_PATH_BYTES or len(body) > MAX_MESSAGE_BYTES:
        return decode_message(body)
    try:
        document = json.loads(body)
    except ValueError:
        return decode_message(body)  # raises, with the usual wording
    if not (
        isinstance(document, dict)
        and document.get("type") == "node_heartbeat"
        and isinstance(document.get("sockets"), list)
    ):
        return decode_message(body)
    raw_sockets: list[object] = document.pop("sockets")
    try:
        beat = NodeHeartbeat.model_validate({**document, "sockets": ()})
    except ValidationError as error:
        raise EventError("invalid_message", describe(error)) from None
    sockets: list[SocketTuple] = []
    for start in range(0, len(raw_sockets), SLICE_SOCKETS):
        await asyncio.sleep(0)  # let the ticker and the HTTP server run between slices
        try:
            fields = _slice.validate_python(raw_sockets[start : start + SLICE_SOCKETS])
        except ValidationError as error:
            raise EventError(
                "invalid_message", f"sockets from {start}: {describe(error)}"
            ) from None
        sockets.extend((f["socket_id"], f["account_id"], f["user_id"]) for f in fields)
    return Snapshot(beat, sockets)
