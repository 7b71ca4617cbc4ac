"""`Client`: one live connection to Livedesk's gateways, kept up for as long as it is open.

It opens a socket to one of its URLs, authenticates with a token from the provider, resumes
from the last offset it delivered and subscribes again to its conversations. Events go to the
handlers registered for their type and to `*`; a persistent event whose offset was already
delivered (a replay overlapping the live stream) is dropped, so each offset reaches the
application once and in order. A socket is given up when the server closes it, when it
sends the `reconnect` drain hint, or when it stays silent past the pong deadline after a
`ping`; the next try waits its back-off delay (machine.py) and goes to the next URL.

Handlers run one at a time in arrival order on the connection's task; a handler that is a
coroutine is awaited before the next frame is read, so a slow handler slows the socket (and
the gateway will close a reader that falls too far behind: the client then resumes).

Deliberately not here: the decisions (machine.py, offsets.py, backoff.py), frame formats
(frames.py), where tokens come from (tokens.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from livedesk_client import frames
from livedesk_client.backoff import Backoff
from livedesk_client.frames import Frame, ProtocolError, TypingState
from livedesk_client.machine import Machine, State, StateCallback, Stop
from livedesk_client.offsets import OffsetCursor
from livedesk_client.tokens import TokenProvider, expires_at

Handler = Callable[[Frame], Awaitable[None] | None]

# Every handler registered for "*" receives every event (not control frames).
ANY: Final = "*"
# An event is at most 128 KiB on the server; a frame past this is not one of ours.
MAX_FRAME_BYTES: Final = 1024 * 1024
# Renewing a token on a live socket is at most this often: a provider that keeps returning
# tokens about to expire must not turn the renewal into a busy loop.
MIN_RENEWAL_INTERVAL_S: Final = 1.0

log = logging.getLogger(__name__)


class Refused(Exception):
    """The server refused this client for a reason retrying cannot fix (4401, 4403)."""


@dataclass(eq=False)
class _Link:
    """One socket's state: gone with the socket."""

    ws: ClientConnection
    ready: bool = False
    heard: bool = False  # a frame arrived since the last ping
    drain_hint: bool = False
    dead: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Client:
    """A connection to `urls` (one URL, or several tried in turn) as the token's user."""

    def __init__(
        self,
        urls: str | Sequence[str],
        token: TokenProvider,
        *,
        resume_from: int | None = None,
        on_state: StateCallback | None = None,
        backoff: Backoff | None = None,
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 10.0,
        renew_before_s: float = 60.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("at least one URL is needed")
        self._provider = token
        self._cursor = OffsetCursor(resume_from)
        self._machine = Machine(backoff or Backoff(), on_state)
        self._ping_interval_s, self._pong_timeout_s = ping_interval_s, pong_timeout_s
        self._renew_before_s, self._open_timeout_s = renew_before_s, open_timeout_s
        self._handlers: dict[str, list[Handler]] = {}
        self._subscriptions: dict[int, None] = {}  # insertion-ordered set
        self._token: str | None = None
        self._token_obtained_at = 0.0  # seconds since the epoch
        self._url_index = 0
        self._link: _Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self.refused: str | None = None
        self.ready: Frame | None = None  # the last `ready` frame
        self.duplicates = 0  # events dropped because their offset was already delivered

    @property
    def state(self) -> State:
        return self._machine.state

    @property
    def offset(self) -> int | None:
        """The last offset delivered (or the `ready` offset before any event)."""
        return self._cursor.last

    @property
    def url(self) -> str:
        """The URL of the current (or next) try."""
        return self.urls[self._url_index % len(self.urls)]

    def on(self, kind: str, handler: Handler) -> None:
        """Call `handler` with each frame of type `kind`; `*` for every event."""
        self._handlers.setdefault(kind, []).append(handler)

    async def subscribe(self, conversation_id: int) -> None:
        """Receive `typing` of the conversation, now and after every reconnection."""
        self._subscriptions[conversation_id] = None
        await self._send_if_ready(frames.subscribe(conversation_id))

    async def unsubscribe(self, conversation_id: int) -> None:
        self._subscriptions.pop(conversation_id, None)
        await self._send_if_ready(frames.unsubscribe(conversation_id))

    async def typing(self, conversation_id: int, state: TypingState) -> None:
        """Tell the conversation's agents; dropped while offline (typing is ephemeral)."""
        await self._send_if_ready(frames.typing(conversation_id, state))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Close the socket and stop reconnecting; the state becomes `offline`."""
        self._closing = True
        self._wake.set()
        if self._link is not None:
            with contextlib.suppress(Exception):  # closing: how the socket ends is moot
                await self._link.ws.close()
        task = self._task
        if task is not None and task is not asyncio.current_task():  # not from a handler
            task.cancel()  # it may be opening a socket, or in a handler
            await asyncio.wait([task])
        self._machine.stopped()

    async def wait_closed(self) -> None:
        """Until the client stops: closed, or `Refused` (raised here) for good."""
        if self._task is not None:
            await asyncio.wait([self._task])
            if not self._task.cancelled() and (error := self._task.exception()) is not None:
                raise error
        if self.refused is not None:
            raise Refused(self.refused)

    async def __aenter__(self) -> Client:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            self._machine.connecting()
            code, reason = await self._connect_once(self.url)
            if self._closing:
                return
            decision = self._machine.closed(code, reason)
            if isinstance(decision, Stop):
                self.refused = decision.reason
                return
            log.info("socket to %s closed (%s %s)", self.url, code, reason)
            if decision.renew_token:
                self._token = None
            if decision.next_url:
                self._url_index += 1
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(decision.delay_s):
                    await self._wake.wait()

    async def _connect_once(self, url: str) -> tuple[int | None, str]:
        """One socket from opening to close: the close code and reason (None: never opened)."""
        try:
            token = await self._fresh_token()
        except Exception as error:  # the application's provider: any failure is a failed try
            log.warning("the token provider failed: %s", error)
            return None, f"token provider failed: {error}"
        try:
            async with connect(
                url,
                ping_interval=None,  # the protocol's own ping (with its deadline) is used
                open_timeout=self._open_timeout_s,
                max_size=MAX_FRAME_BYTES,
                compression=None,
            ) as ws:
                link = self._link = _Link(ws)
                try:
                    with contextlib.suppress(ConnectionClosed):  # then `_read` ends at once
                        await ws.send(frames.auth(token, self._cursor.resume_from()))
                    link.tasks = [
                        asyncio.create_task(self._keepalive(link)),
                        asyncio.create_task(self._renew(link)),
                    ]
                    await self._read(link)
                finally:
                    self._link = None
                    for task in link.tasks:
                        task.cancel()
                    await asyncio.gather(*link.tasks, return_exceptions=True)
                return self._outcome(link)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            return None, f"cannot connect: {error}"

    def _outcome(self, link: _Link) -> tuple[int | None, str]:
        if link.dead:
            return None, f"no answer to ping within {self._pong_timeout_s:g} s"
        if link.drain_hint:
            return None, "the node asked its clients to reconnect elsewhere"
        return link.ws.close_code, link.ws.close_reason or ""

    async def _read(self, link: _Link) -> None:
        try:
            async for raw in link.ws:
                link.heard = True
                try:
                    frame = frames.parse(raw)
                except ProtocolError as error:
                    log.warning("%s", error)
                    continue
                await self._dispatch(link, frame)
                if link.drain_hint:
                    await link.ws.close(1000, "reconnect hint")
        except ConnectionClosed:
            pass

    async def _dispatch(self, link: _Link, frame: Frame) -> None:
        kind = frame["type"]
        if kind == "ready":
            link.ready = True
            self.ready = frame
            self._cursor.ready(int(frame["offset"]))
            self._machine.opened()
            for conversation_id in self._subscriptions:
                await link.ws.send(frames.subscribe(conversation_id))
        elif kind == "resync_required":
            self._cursor.resync(int(frame["offset"]))
        elif kind == "reconnect":
            link.drain_hint = True
        elif (offset := frames.offset_of(frame)) is not None and not self._cursor.accept(offset):
            self.duplicates += 1
            return
        await self._call(kind, frame)
        if frames.is_event(frame):
            await self._call(ANY, frame)

    async def _call(self, kind: str, frame: Frame) -> None:
        for handler in self._handlers.get(kind, ()):
            try:
                result = handler(frame)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # the application's code: one bad handler must not end the client
                log.exception("the handler for %s frames failed", kind)

    async def _send_if_ready(self, text: str) -> None:
        link = self._link
        if link is not None and link.ready:
            with contextlib.suppress(ConnectionClosed):
                await link.ws.send(text)

    # -- liveness and tokens on a live socket ----------------------------------------------

    async def _keepalive(self, link: _Link) -> None:
        """Ping every interval; a socket that then says nothing before the deadline is dead."""
        while True:
            await asyncio.sleep(self._ping_interval_s)
            link.heard = False
            await link.ws.send(frames.ping())
            await asyncio.sleep(self._pong_timeout_s)
            if not link.heard:
                # A half-open TCP connection would wait on the kernel's timeouts for many
                # minutes: drop it without a closing handshake.
                link.dead = True
                link.ws.transport.abort()
                return

    async def _renew(self, link: _Link) -> None:
        """Send a fresh token before the current one expires, so the socket stays open."""
        while self._token is not None and (expiry := expires_at(self._token)) is not None:
            # Early enough for the provider to answer; for a token shorter-lived than that
            # margin, halfway through its life.
            before_s = min(self._renew_before_s, (expiry - self._token_obtained_at) / 2)
            wait_s = expiry - before_s - time.time()
            await asyncio.sleep(max(wait_s, MIN_RENEWAL_INTERVAL_S))
            try:
                token = await self._provide()
            except Exception as error:  # the application's provider; 4401 comes next if it stays
                log.warning("the token provider failed: %s", error)
                continue
            if (expires_at(token) or 0.0) <= expiry:
                return  # no later token to be had: the socket closes with 4401 at expiry
            self._token, self._token_obtained_at = token, time.time()
            await link.ws.send(frames.auth(token))

    async def _fresh_token(self) -> str:
        token = self._token
        expiry = None if token is None else expires_at(token)
        if token is None or (expiry is not None and expiry <= time.time()):
            token = self._token = await self._provide()
            self._token_obtained_at = time.time()
        return token

    async def _provide(self) -> str:
        result = self._provider()
        token = await result if inspect.isawaitable(result) else result
        if not isinstance(token, str) or not token:
            raise TypeError("the token provider must return a non-empty string")
        return token
