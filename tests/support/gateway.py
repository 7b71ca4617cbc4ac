"""Test doubles for the gateway: a socket in memory, an event log that answers replay.

`EventLog` is the API's side of the contract in memory: it assigns gapless offsets per
account, encodes each event once with `events.encode`, publishes it on a bus like the relay
does, and answers replay pages (with retention) and conversation ownership. Unit and
integration tests use it where the real API is not the thing under test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livedesk.gateway.api_client import (
    BEYOND_ANY_OFFSET,
    ReplayPage,
    ResyncRequired,
    UpstreamUnavailable,
)
from livedesk.gateway.clock import Clock
from livedesk.gateway.ordering import Item
from livedesk.gateway.sockets import OutFrame, SocketClosed
from livedesk.shared import routing
from livedesk.shared.bus.base import Bus, Message
from livedesk.shared.events import (
    AgentStatus,
    AgentStatusChanged,
    MessageData,
    MessageKind,
    NewMessage,
    SenderType,
    Typing,
    TypingState,
    encode,
)
from livedesk.shared.tokens import (
    Role,
    TokenSigner,
    TokenVerifier,
    ensure_key_pair,
    load_private_key,
    load_public_key,
)
from livedesk.shared.topology import EPHEMERAL, EVENTS
from tests.support.clock import VirtualClock

# The API's bound on a replay page (`limit`, routes/events.py): beyond it, 422.
API_MAX_REPLAY = 1000


class Keys:
    """A key pair on disk, a signer and a verifier, as the API and a gateway hold them."""

    def __init__(self, directory: Path) -> None:
        private_path, self.public_path = ensure_key_pair(directory)
        self._private = load_private_key(private_path)
        self.verifier = TokenVerifier(load_public_key(self.public_path), issuer="livedesk")

    def token(
        self, account_id: int, user_id: int, *, ttl_s: int = 3600, now: float | None = None
    ) -> str:
        signer = TokenSigner(self._private, issuer="livedesk", ttl_s=ttl_s)
        return signer.issue(user_id=user_id, account_id=account_id, role=Role.AGENT, now=now)


class FakeSocket:
    """A `Socket` in memory: frames written are kept, frames to receive are fed in."""

    _ids = iter(range(1, 1_000_000))

    def __init__(self) -> None:
        self.socket_id = f"fake-{next(self._ids)}"
        self.sent: list[bytes] = []
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed: tuple[int, str] | None = None
        self.stalled = 0  # bytes the peer "does not read": reported as buffered
        self.closed_event = asyncio.Event()
        self.pings = 0  # keepalive calls (each a ping a real socket might send)
        self.deaf = False  # the peer stopped answering pings
        self.on_ping: Callable[[], None] = lambda: None

    def buffered(self) -> int:
        return -1 if self.closed else self.stalled

    def write(self, frame: OutFrame) -> None:
        assert self.closed is None, "write after close"
        self.sent.append(frame.payload)
        if self.stalled:
            self.stalled += len(frame.wire)

    def keepalive(self, now: float) -> float | None:
        self.pings += 1
        self.on_ping()
        return None if self.deaf else now  # due again at the next sweep

    async def receive(self) -> bytes | str:
        raw = await self.inbox.get()
        if raw is None:
            raise SocketClosed
        return raw

    async def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self.closed_event.set()
        self.inbox.put_nowait(None)

    def feed(self, frame: dict[str, Any] | bytes | str) -> None:
        raw = frame if isinstance(frame, bytes | str) else json.dumps(frame)
        self.inbox.put_nowait(raw if isinstance(raw, bytes) else raw.encode())

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.sent]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames() if frame["type"] == kind]

    def offsets(self) -> list[int]:
        return [frame["offset"] for frame in self.frames() if frame["type"] == "new_message"]


class EventLog:
    """The API's events in memory: offsets, replay with retention, ownership."""

    def __init__(self, bus: Bus | None = None, clock: Clock | None = None) -> None:
        self.bus = bus
        self._sleep = asyncio.sleep if clock is None else clock.sleep
        self.events: dict[int, list[bytes]] = {}
        self.conversations: dict[int, int] = {}  # conversation -> account
        self.retained_from: dict[int, int] = {}  # account -> oldest replayable offset
        self.replay_calls = 0
        self.available = True
        self.delay_s = 0.0  # how long each replay takes

    def conversation(self, account_id: int, conversation_id: int) -> int:
        self.conversations[conversation_id] = account_id
        return conversation_id

    def commit(self, account_id: int, conversation_id: int, content: str = "hi") -> NewMessage:
        log = self.events.setdefault(account_id, [])
        now = datetime.now(UTC)
        event = NewMessage(
            offset=len(log) + 1,
            account_id=account_id,
            conversation_id=conversation_id,
            ts=now,
            data=MessageData(
                id=len(log) + 1,
                conversation_id=conversation_id,
                kind=MessageKind.INCOMING,
                content=content,
                sender_type=SenderType.CONTACT,
                created_at=now,
            ),
        )
        log.append(encode(event))
        return event

    async def post(self, account_id: int, conversation_id: int, content: str = "hi") -> int:
        """Commit and publish, as the API's relay does; return the offset."""
        event = self.commit(account_id, conversation_id, content)
        assert self.bus is not None
        await self.bus.publish(Message(EVENTS, routing.event_key(event), encode(event)))
        return event.offset

    async def republish(self, account_id: int, offset: int) -> None:
        raw = self.events[account_id][offset - 1]
        key = routing.conversation_key(account_id, json.loads(raw)["conversation_id"],
                                       "new_message")  # fmt: skip
        assert self.bus is not None
        await self.bus.publish(Message(EVENTS, key, raw))

    async def replay(self, token: str, after: int, limit: int) -> ReplayPage:
        self.replay_calls += 1
        if self.delay_s:
            await self._sleep(self.delay_s)
        account_id = self.account_of(token)
        log = self.events.get(account_id, [])
        if not self.available:
            raise UpstreamUnavailable("log unavailable")
        if not 1 <= limit <= API_MAX_REPLAY:
            raise UpstreamUnavailable("replay answered 422")  # as HttpApiClient reports it
        if after != BEYOND_ANY_OFFSET and after + 1 < self.retained_from.get(account_id, 1):
            raise ResyncRequired(f"{after} is past retention")
        items = []
        for raw in log[after : after + limit]:
            data = json.loads(raw)
            ts = datetime.fromisoformat(data["ts"]).timestamp()
            items.append(Item(data["offset"], OutFrame(raw), ts))
        return ReplayPage(items, len(log))

    async def latest_offset(self, token: str) -> int:
        return (await self.replay(token, BEYOND_ANY_OFFSET, 1)).latest_offset

    async def owns_conversation(self, token: str, conversation_id: int) -> bool:
        return self.conversations.get(conversation_id) == self.account_of(token)

    def account_of(self, token: str) -> int:
        # Tests sign real tokens; the payload is read without verification, as the API's
        # own verification is not what these tests are about.
        import jwt

        return int(jwt.decode(token, options={"verify_signature": False})["acct"])


class FakePresence:
    """Presence's HTTP answers in memory."""

    def __init__(self) -> None:
        self.agents: dict[int, AgentStatus] = {}
        self.typing: dict[int, list[int]] = {}
        self.state_calls = 0

    async def presence_state(self, token: str) -> dict[int, AgentStatus] | None:
        self.state_calls += 1
        return dict(self.agents)

    async def typers(self, token: str, conversation_id: int) -> list[int]:
        return list(self.typing.get(conversation_id, []))


def typing_message(account_id: int, conversation_id: int, user_id: int) -> Message:
    event = Typing(account_id=account_id, conversation_id=conversation_id, user_id=user_id,
                   state=TypingState.START)  # fmt: skip
    return Message(EPHEMERAL, routing.event_key(event), encode(event), persistent=False)


def status_message(account_id: int, user_id: int) -> Message:
    event = AgentStatusChanged(account_id=account_id, user_id=user_id, status=AgentStatus.BUSY)
    return Message(EPHEMERAL, routing.event_key(event), encode(event), persistent=False)


async def until(
    predicate: Any, *, timeout_s: float = 10.0, clock: VirtualClock | None = None
) -> None:
    """Wait until `predicate()` is true (bounded: a hang is a failure, not a timing claim);
    on `clock`'s virtual time if given."""
    if clock is not None:
        await clock.wait_until(predicate, timeout_s=timeout_s)
        return
    async with asyncio.timeout(timeout_s):
        # Polling: the predicates read plain state (lists of frames), nothing to wait on.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def in_order(offsets: list[int], first: int, last: int) -> bool:
    return offsets == list(range(first, last + 1))


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
