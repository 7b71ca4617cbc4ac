"""One socket's state machine, sans-I/O: frames and clock readings in, decisions out.

A session starts authenticating, becomes open on a valid `auth`, and is closed by a decision
it returns (`Close`). It enforces what is per socket: the auth deadline, token expiry (unless a
fresh token is sent), frame and typing rates (token buckets), repeated bad or forbidden frames,
the bound on subscriptions, and the bounds on its send queue (`SendQueue`, in frames, bytes and
how long its oldest frame has waited).

Deliberately not here: sockets, the broker, HTTP calls (whether a conversation belongs to the
account is asked by the node, which reports back with `subscription_granted` / `forbidden`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from livedesk.gateway import protocol
from livedesk.gateway.protocol import (
    Auth,
    ClientFrame,
    FrameError,
    Ping,
    Ref,
    Subscribe,
    TypingFrame,
    Unsubscribe,
)
from livedesk.shared.settings import GatewaySettings
from livedesk.shared.tokens import Claims, TokenError, TokenVerifier, UnknownKeyId

# Subscribing to a conversation of another account is a mistake once, probing three times.
MAX_FORBIDDEN: Final = 3


class Phase(Enum):
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Reply:
    frame: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str
    frame: bytes | None = None  # an error frame to send first, when there is something to say


@dataclass(frozen=True, slots=True)
class Authenticated:
    claims: Claims
    resume_from: int | None
    ref: Ref


@dataclass(frozen=True, slots=True)
class KeyUnknown:
    """The token names a key the node does not hold: re-read the keys (the API may have
    rotated), then hand the frame back with `key_looked_up`."""

    frame: Auth


Decision = (
    Reply | Close | Authenticated | KeyUnknown | Subscribe | Unsubscribe | TypingFrame | Ping | None
)


class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved up; `take` spends one if it can."""

    __slots__ = ("_burst", "_rate_per_s", "_stamp", "_tokens")

    def __init__(self, rate_per_s: float, burst: float, now: float) -> None:
        self._rate_per_s, self._burst = rate_per_s, burst
        self._tokens, self._stamp = burst, now

    def take(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate_per_s)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SendQueue:
    """Accounting of what waits in one socket's outgoing buffer, in frames, bytes and time.

    The frames themselves sit in the transport's write buffer (no copy, no per-socket task):
    before each write the caller reads how many bytes are still buffered, and `admit` works
    out how many whole frames that is from the frames' end positions. A socket that goes
    over a bound cannot keep up and is closed with 4409 instead of growing the node: too
    many frames, too many bytes, or a frame that has waited longer than `max_lag_s` (a
    stalled reader at a low event rate reaches the other two bounds only after minutes).

    A socket that keeps up (its buffer empty at each write) costs nothing here but two
    numbers: the clock is read, and each frame's end and time remembered, only once frames
    wait. `overdue` lets the node's sweeper apply the time bound to a socket that is sent
    nothing more.
    """

    __slots__ = ("_clock", "_ends", "_written", "max_bytes", "max_frames", "max_lag_s")

    def __init__(
        self, max_frames: int, max_bytes: int, max_lag_s: float, clock: Callable[[], float]
    ) -> None:
        self.max_frames, self.max_bytes, self.max_lag_s = max_frames, max_bytes, max_lag_s
        self._clock = clock
        self._written = 0  # bytes written since the buffer was last seen empty
        # (end position, time first seen waiting) of each frame still buffered; made only
        # once a socket lags: deques are big.
        self._ends: deque[tuple[int, float]] | None = None

    def admit(self, buffered: int, size: int) -> bool:
        """Record a frame of `size` bytes about to be written; False if over a bound."""
        if buffered == 0:
            self._ends = None
            self._written = size
            return size <= self.max_bytes
        now = self._clock()
        ends = self._ends
        if ends is None:
            # Everything before the last write left while the buffer was empty; that write
            # is the oldest frame waiting. It is dated from now, when it is first seen
            # waiting: the lag is under-counted by at most the time between two writes.
            ends = self._ends = deque(((self._written, now),))
        self._drop_sent(ends, buffered)
        self._written += size
        ends.append((self._written, now))
        return (
            len(ends) <= self.max_frames
            and buffered + size <= self.max_bytes
            and now - ends[0][1] <= self.max_lag_s
        )

    @property
    def waiting(self) -> bool:
        """Whether frames were seen waiting at the last write (only then can it be overdue)."""
        return self._ends is not None

    def overdue(self, buffered: int) -> bool:
        """Whether the oldest frame still buffered has waited longer than `max_lag_s`."""
        ends = self._ends
        if ends is None or buffered < 0:
            return False
        if buffered == 0:
            self._ends = None
            return False
        self._drop_sent(ends, buffered)
        return bool(ends) and self._clock() - ends[0][1] > self.max_lag_s

    def _drop_sent(self, ends: deque[tuple[int, float]], buffered: int) -> None:
        drained = self._written - buffered
        while ends and ends[0][0] <= drained:
            ends.popleft()

    @property
    def frames(self) -> int:
        return 0 if self._ends is None else len(self._ends)


class Session:
    """What one socket has said and may still say."""

    __slots__ = (
        "_bad_frames",
        "_forbidden",
        "_frames",
        "_settings",
        "_typing",
        "_verifier",
        "auth_deadline",
        "claims",
        "pending_subscriptions",
        "phase",
        "subscriptions",
        "token",
    )

    def __init__(self, verifier: TokenVerifier, settings: GatewaySettings, now: float) -> None:
        self._verifier, self._settings = verifier, settings
        self.phase = Phase.AUTHENTICATING
        self.auth_deadline = now + settings.auth_timeout_s
        self.claims: Claims | None = None
        self.token = ""
        self.subscriptions: set[int] = set()
        self.pending_subscriptions = 0
        self._frames = TokenBucket(settings.frames_per_s, settings.frames_burst, now)
        self._bad_frames = TokenBucket(settings.bad_frames_per_s, settings.bad_frames_burst, now)
        self._typing: TokenBucket | None = None  # most sockets never type
        self._forbidden = 0

    def receive(self, raw: str | bytes, now: float, wall: float) -> Decision:
        """Take one frame from the client; say what to do about it."""
        if self.phase is Phase.CLOSED:
            return None
        if not self._frames.take(now):
            return self._close(protocol.CLOSE_RATE_LIMITED, "too many frames")
        try:
            frame = protocol.parse_frame(raw, self._settings.max_frame_bytes)
        except FrameError as bad:
            return self._bad(bad.code, bad.message, bad.ref, now)
        if self.phase is Phase.AUTHENTICATING:
            if not isinstance(frame, Auth):
                message = "the first frame must be auth"
                reply = protocol.error(protocol.ERR_NOT_AUTHENTICATED, message, frame.ref)
                return self._close(protocol.CLOSE_UNAUTHENTICATED, message, reply)
            return self._authenticate(frame, wall)
        return self._command(frame, now, wall)

    def key_looked_up(self, frame: Auth, wall: float) -> Decision:
        """Take back the `auth` of a `KeyUnknown` once the keys were re-read: a kid still
        unknown is refused like any bad token."""
        if self.phase is Phase.CLOSED:
            return None
        if self.phase is Phase.AUTHENTICATING:
            return self._authenticate(frame, wall, may_look_up=False)
        return self._renew(frame, wall, may_look_up=False)

    def _authenticate(self, frame: Auth, wall: float, *, may_look_up: bool = True) -> Decision:
        try:
            claims = self._verifier.verify(frame.token)
        except TokenError as refused:
            if may_look_up and isinstance(refused, UnknownKeyId):
                return KeyUnknown(frame)
            reply = protocol.error(refused.code, refused.message, frame.ref)
            return self._close(protocol.CLOSE_UNAUTHENTICATED, refused.code, reply)
        if claims.expires_at <= wall:  # verify() allows no leeway, but clocks move on
            reply = protocol.error("token_expired", "the token has expired", frame.ref)
            return self._close(protocol.CLOSE_UNAUTHENTICATED, "token_expired", reply)
        self.phase, self.claims, self.token = Phase.OPEN, claims, frame.token
        return Authenticated(claims, frame.resume_from, frame.ref)

    def _command(self, frame: ClientFrame, now: float, wall: float) -> Decision:
        if isinstance(frame, Auth):
            return self._renew(frame, wall)
        if isinstance(frame, Subscribe):
            taken = len(self.subscriptions) + self.pending_subscriptions
            if frame.conversation_id not in self.subscriptions:
                if taken >= self._settings.max_subscriptions:
                    limit = self._settings.max_subscriptions
                    message = f"at most {limit} subscriptions per socket"
                    error = protocol.ERR_TOO_MANY_SUBSCRIPTIONS
                    return Reply(protocol.error(error, message, frame.ref))
                self.pending_subscriptions += 1
            return frame
        if isinstance(frame, Unsubscribe):
            self.subscriptions.discard(frame.conversation_id)
            return frame
        if isinstance(frame, TypingFrame):
            if frame.conversation_id not in self.subscriptions:
                message = "subscribe to the conversation before typing in it"
                return Reply(protocol.error(protocol.ERR_NOT_SUBSCRIBED, message, frame.ref))
            if self._typing is None:
                settings = self._settings
                self._typing = TokenBucket(settings.typing_per_s, settings.typing_burst, now)
            if not self._typing.take(now):
                return self._bad(protocol.ERR_RATE_LIMITED, "typing too often", frame.ref, now)
        return frame

    def _renew(self, frame: Auth, wall: float, *, may_look_up: bool = True) -> Decision:
        assert self.claims is not None
        try:
            claims = self._verifier.verify(frame.token)
        except TokenError as refused:
            if may_look_up and isinstance(refused, UnknownKeyId):
                return KeyUnknown(frame)
            # The socket keeps its current token, which may still be good for a while.
            return Reply(protocol.error(refused.code, refused.message, frame.ref))
        if (claims.account_id, claims.user_id) != (self.claims.account_id, self.claims.user_id):
            message = "a socket cannot change user or account"
            reply = protocol.error(protocol.ERR_FORBIDDEN, message, frame.ref)
            return self._close(protocol.CLOSE_FORBIDDEN, message, reply)
        if claims.expires_at <= wall:
            return Reply(protocol.error("token_expired", "the token has expired", frame.ref))
        self.claims, self.token = claims, frame.token
        return Reply(protocol.auth_renewed(claims.expires_at, frame.ref))

    def subscription_granted(self, conversation_id: int) -> None:
        self.pending_subscriptions = max(0, self.pending_subscriptions - 1)
        self.subscriptions.add(conversation_id)

    def subscription_failed(self) -> None:
        self.pending_subscriptions = max(0, self.pending_subscriptions - 1)

    def forbidden(self, conversation_id: int, ref: Ref) -> Decision:
        """The conversation is not the account's: refuse; close a socket that keeps probing."""
        self.subscription_failed()
        self._forbidden += 1
        message = f"conversation {conversation_id} is not in your account"
        reply = protocol.error(protocol.ERR_FORBIDDEN, message, ref)
        if self._forbidden >= MAX_FORBIDDEN:
            return self._close(protocol.CLOSE_FORBIDDEN, "repeated forbidden requests", reply)
        return Reply(reply)

    def deadline(self, now: float, wall: float) -> Close | None:
        """Close a socket that did not authenticate in time, or whose token has expired."""
        if self.phase is Phase.AUTHENTICATING and now >= self.auth_deadline:
            return self._close(protocol.CLOSE_AUTH_TIMEOUT, "no auth in time")
        if self.phase is Phase.OPEN and self.claims and wall >= self.claims.expires_at:
            reply = protocol.error("token_expired", "the token has expired; reconnect", None)
            return self._close(protocol.CLOSE_UNAUTHENTICATED, "token_expired", reply)
        return None

    def _bad(self, code: str, message: str, ref: Ref, now: float) -> Decision:
        reply = protocol.error(code, message, ref)
        if not self._bad_frames.take(now):
            return self._close(protocol.CLOSE_RATE_LIMITED, "too many bad frames", reply)
        return Reply(reply)

    def _close(self, code: int, reason: str, frame: bytes | None = None) -> Close:
        self.phase = Phase.CLOSED
        return Close(code, reason, frame)
