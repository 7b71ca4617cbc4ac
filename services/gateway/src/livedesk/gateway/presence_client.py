"""What the gateway tells presence, and what it asks it.

Tells, on `livedesk.presence.in` through the Bus: each socket opened and closed, typing
signals, and every `heartbeat_interval_s` a full snapshot of the node's authenticated sockets
(NodeHeartbeat), which corrects any lost open/close and proves the node alive. Messages go
through a bounded outbox drained by one task in batches (`publish_many`), so a socket never
waits for the broker; when the outbox is full the message is dropped and counted: opens and
closes are repaired by the next snapshot, typing is at-most-once by design. A heartbeat
re-encodes its sockets only when they changed since the last one (`HeartbeatEncoder`): most
nodes' sockets sit still between two heartbeats.

Asks, over HTTP with the socket's own token: the account's presence_state after `ready`, and
a conversation's current typers for `subscribed`. A presence service that does not answer
costs the client those hints, never its socket.

Deliberately not here: which sockets exist (the node passes a snapshot function).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol

import httpx
from pydantic import TypeAdapter

from livedesk.gateway.clock import Clock
from livedesk.shared import routing
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.events import AgentStatus, TypingState
from livedesk.shared.presence_messages import (
    ConnectionClosed,
    ConnectionOpened,
    NodeHeartbeat,
    PresenceMessage,
    SocketRef,
    TypingSignal,
    encode_message,
)
from livedesk.shared.topology import PRESENCE_IN

log = logging.getLogger(__name__)

# Opens, closes and typing of a few seconds of a busy node; beyond it presence is down.
OUTBOX_LIMIT: Final = 10_000
BATCH: Final = 500
# How a heartbeat encoded with no sockets ends: `sockets` is its last field.
_NO_SOCKETS: Final = b'"sockets":[]}'
_socket_list: TypeAdapter[tuple[SocketRef, ...]] = TypeAdapter(tuple[SocketRef, ...])


class PresenceLookup(Protocol):
    async def presence_state(self, token: str) -> dict[int, AgentStatus] | None: ...

    async def typers(self, token: str, conversation_id: int) -> list[int]: ...


class HttpPresenceLookup:
    def __init__(self, http: httpx.AsyncClient, presence_url: str) -> None:
        self._http, self._base = http, presence_url.rstrip("/")

    async def presence_state(self, token: str) -> dict[int, AgentStatus] | None:
        try:
            response = await self._http.get(f"{self._base}/v1/presence", headers=_bearer(token))
            response.raise_for_status()
            agents = response.json()["agents"]
            return {int(user): AgentStatus(status) for user, status in agents.items()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("presence_state unavailable: %r", error)
            return None

    async def typers(self, token: str, conversation_id: int) -> list[int]:
        url = f"{self._base}/v1/presence/conversations/{conversation_id}/typing"
        try:
            response = await self._http.get(url, headers=_bearer(token))
            response.raise_for_status()
            return [int(user) for user in response.json()["typing"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            log.warning("typers of %s unavailable: %r", conversation_id, error)
            return []


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class HeartbeatEncoder:
    """Heartbeat bytes, with the sockets' JSON kept from the last beat while they are the same.

    Equal to `encode_message` of the whole heartbeat (a unit test holds it to that): the
    envelope is encoded by the model as usual, with no sockets, and the sockets' array is put
    in its place.
    """

    def __init__(self) -> None:
        self._sockets: tuple[SocketRef, ...] = ()
        self._json = b"[]"

    def encode(self, beat: NodeHeartbeat, sockets: tuple[SocketRef, ...]) -> bytes:
        if beat.sockets:
            raise ValueError("the sockets are passed apart from the heartbeat")
        # The node's snapshot holds the same SocketRef objects while its sockets stay, so
        # this is an identity check per socket when nothing changed.
        if sockets != self._sockets:
            self._sockets, self._json = sockets, _socket_list.dump_json(sockets)
        envelope = encode_message(beat)
        if not envelope.endswith(_NO_SOCKETS):
            raise AssertionError("NodeHeartbeat no longer ends with its sockets")
        return envelope[: -len(b"[]}")] + self._json + b"}"


class PresenceReporter:
    """Sends presence what the node's sockets do; `run()` is the one task that publishes."""

    def __init__(self, bus: Bus, node_id: str, interval_s: float, clock: Clock) -> None:
        self._bus, self._node, self._interval_s, self._clock = bus, node_id, interval_s, clock
        self._outbox: asyncio.Queue[Message] = asyncio.Queue(OUTBOX_LIMIT)
        self._heartbeats = HeartbeatEncoder()
        # A new epoch per run: presence tells a restarted node from a late heartbeat.
        self.epoch = f"{int(clock.wall())}-{secrets.token_hex(4)}"
        self.dropped = 0

    def opened(self, socket: SocketRef) -> None:
        self._put(ConnectionOpened(node=self._node, sent_at=self._now(), socket=socket))

    def closed(self, socket: SocketRef) -> None:
        self._put(ConnectionClosed(node=self._node, sent_at=self._now(), socket=socket))

    def typing(self, socket: SocketRef, conversation_id: int, state: TypingState) -> None:
        self._put(
            TypingSignal(
                node=self._node,
                sent_at=self._now(),
                socket=socket,
                conversation_id=conversation_id,
                state=state,
            )
        )

    def _put(self, message: PresenceMessage, body: bytes | None = None) -> None:
        body = encode_message(message) if body is None else body
        try:
            self._outbox.put_nowait(
                Message(PRESENCE_IN, routing.node_key(message), body, persistent=False)
            )
        except asyncio.QueueFull:
            self.dropped += 1

    async def publish(self) -> None:
        """Drain the outbox in batches, in order, for as long as the node runs."""
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await self._bus.publish_many(batch)
            except Exception:  # a task boundary: presence is soft state, keep the node up
                log.exception("presence messages lost (%d); the next snapshot repairs", len(batch))

    async def flush(self) -> None:
        """Publish what is still in the outbox (at shutdown, after the sockets closed)."""
        batch: list[Message] = []
        while not self._outbox.empty():
            batch.append(self._outbox.get_nowait())
        if batch:
            await self._bus.publish_many(batch)

    async def heartbeat(self, snapshot: Callable[[], tuple[SocketRef, ...]]) -> None:
        """Every interval, the node's full set of sockets."""
        seq = 0
        while True:
            beat = NodeHeartbeat(
                node=self._node,
                sent_at=self._now(),
                seq=seq,
                epoch=self.epoch,
                interval_s=self._interval_s,
                sockets=(),
            )
            self._put(beat, self._heartbeats.encode(beat, snapshot()))
            seq += 1
            await self._clock.sleep(self._interval_s)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.wall(), UTC)
