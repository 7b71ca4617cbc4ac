"""One socket's state machine: auth, deadlines, renewal, limits, send-queue bounds."""

from __future__ import annotations

import json
import time

from livedesk.gateway import protocol
from livedesk.gateway.protocol import Ping, Subscribe, TypingFrame
from livedesk.gateway.session import Authenticated, Close, Phase, Reply, SendQueue, Session
from livedesk.shared.settings import GatewaySettings
from tests.support.gateway import Keys

SETTINGS = GatewaySettings(max_subscriptions=2, frames_burst=50, frames_per_s=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def open_session(keys: Keys, account_id: int = 1, user_id: int = 2) -> Session:
    session = Session(keys.verifier, SETTINGS, now=0.0)
    decision = session.receive(frame(type="auth", token=keys.token(account_id, user_id)), 0.0,
                               time.time())  # fmt: skip
    assert isinstance(decision, Authenticated)
    return session


def error_code(decision: object) -> str:
    assert isinstance(decision, Reply | Close)
    assert decision.frame is not None
    return str(json.loads(decision.frame)["code"])


def test_a_valid_auth_opens_the_session(keys: Keys) -> None:
    session = Session(keys.verifier, SETTINGS, now=0.0)
    token = keys.token(7, 8)
    decision = session.receive(frame(type="auth", token=token, resume_from=3, ref="r"), 0.0,
                               time.time())  # fmt: skip
    assert isinstance(decision, Authenticated)
    assert (decision.claims.account_id, decision.claims.user_id) == (7, 8)
    assert (decision.resume_from, decision.ref) == (3, "r")
    assert session.phase is Phase.OPEN
    assert session.token == token


def test_an_expired_token_closes_with_4401(keys: Keys) -> None:
    session = Session(keys.verifier, SETTINGS, now=0.0)
    token = keys.token(1, 2, ttl_s=60, now=time.time() - 120)
    decision = session.receive(frame(type="auth", token=token), 0.0, time.time())
    assert isinstance(decision, Close)
    assert decision.code == protocol.CLOSE_UNAUTHENTICATED
    assert error_code(decision) == "token_expired"


def test_a_forged_token_closes_with_4401(keys: Keys, tmp_path: object) -> None:
    from pathlib import Path

    other = Keys(Path(str(tmp_path)))  # a key pair the gateway does not trust
    session = Session(keys.verifier, SETTINGS, now=0.0)
    decision = session.receive(frame(type="auth", token=other.token(1, 2)), 0.0, time.time())
    assert isinstance(decision, Close)
    assert decision.code == protocol.CLOSE_UNAUTHENTICATED
    assert error_code(decision) == "token_invalid"
    garbage = Session(keys.verifier, SETTINGS, now=0.0).receive(
        frame(type="auth", token="not.a.jwt"), 0.0, time.time()
    )
    assert isinstance(garbage, Close)
    assert garbage.code == protocol.CLOSE_UNAUTHENTICATED


def test_anything_but_auth_first_closes_with_4401(keys: Keys) -> None:
    session = Session(keys.verifier, SETTINGS, now=0.0)
    decision = session.receive(frame(type="ping", ref=1), 0.0, time.time())
    assert isinstance(decision, Close)
    assert decision.code == protocol.CLOSE_UNAUTHENTICATED
    assert error_code(decision) == protocol.ERR_NOT_AUTHENTICATED


def test_a_bad_frame_before_auth_gets_an_error_and_the_socket_stays(keys: Keys) -> None:
    session = Session(keys.verifier, SETTINGS, now=0.0)
    decision = session.receive(b"{oops", 0.0, time.time())
    assert isinstance(decision, Reply)
    assert error_code(decision) == protocol.ERR_NOT_JSON
    assert session.phase is Phase.AUTHENTICATING


def test_no_auth_in_time_closes_with_4408(keys: Keys) -> None:
    session = Session(keys.verifier, SETTINGS, now=100.0)
    assert session.deadline(100.0 + SETTINGS.auth_timeout_s - 0.01, time.time()) is None
    decision = session.deadline(100.0 + SETTINGS.auth_timeout_s, time.time())
    assert isinstance(decision, Close)
    assert decision.code == protocol.CLOSE_AUTH_TIMEOUT


def test_token_expiry_on_a_live_socket_closes_with_4401(keys: Keys) -> None:
    session = open_session(keys)
    assert session.claims is not None
    assert session.deadline(1.0, session.claims.expires_at - 1) is None
    decision = session.deadline(1.0, session.claims.expires_at)
    assert isinstance(decision, Close)
    assert decision.code == protocol.CLOSE_UNAUTHENTICATED


def test_a_fresh_token_extends_a_live_socket(keys: Keys) -> None:
    session = open_session(keys)
    before = session.claims
    fresh = keys.token(1, 2, ttl_s=7200)
    decision = session.receive(frame(type="auth", token=fresh, ref="again"), 1.0, time.time())
    assert isinstance(decision, Reply)
    renewed = json.loads(decision.frame)
    assert renewed["type"] == "auth_renewed"
    assert renewed["ref"] == "again"
    assert session.claims is not None
    assert before is not None
    assert session.claims.expires_at > before.expires_at
    assert session.token == fresh


def test_a_token_of_another_account_on_a_live_socket_closes_with_4403(keys: Keys) -> None:
    session = open_session(keys, account_id=1)
    decision = session.receive(frame(type="auth", token=keys.token(2, 2)), 1.0, time.time())
    assert isinstance(decision, Close)
    assert decision.code == protocol.CLOSE_FORBIDDEN


def test_a_bad_renewal_keeps_the_current_token(keys: Keys) -> None:
    session = open_session(keys)
    token = session.token
    decision = session.receive(frame(type="auth", token="garbage"), 1.0, time.time())
    assert error_code(decision) == "token_invalid"
    assert session.phase is Phase.OPEN
    assert session.token == token


def test_subscriptions_are_bounded(keys: Keys) -> None:
    session = open_session(keys)
    for conversation in (10, 11):
        assert isinstance(session.receive(frame(type="subscribe", conversation_id=conversation),
                                          1.0, time.time()), Subscribe)  # fmt: skip
        session.subscription_granted(conversation)
    refused = session.receive(frame(type="subscribe", conversation_id=12, ref=3), 1.0, time.time())
    assert error_code(refused) == protocol.ERR_TOO_MANY_SUBSCRIPTIONS
    # Subscribing again to one it has is not a new subscription.
    again = session.receive(frame(type="subscribe", conversation_id=10), 1.0, time.time())
    assert isinstance(again, Subscribe)


def test_typing_needs_a_subscription_and_is_rate_limited(keys: Keys) -> None:
    session = open_session(keys)
    typing = frame(type="typing", conversation_id=10, state="start")
    assert error_code(session.receive(typing, 1.0, time.time())) == protocol.ERR_NOT_SUBSCRIBED
    session.subscription_granted(10)
    decisions = [session.receive(typing, 1.0, time.time()) for _ in range(8)]
    allowed = [d for d in decisions if isinstance(d, TypingFrame)]
    assert len(allowed) == SETTINGS.typing_burst
    assert error_code(decisions[-1]) == protocol.ERR_RATE_LIMITED
    # Tokens come back with time.
    assert isinstance(session.receive(typing, 3.0, time.time()), TypingFrame)


def test_a_frame_flood_closes_with_4429(keys: Keys) -> None:
    session = open_session(keys)
    decisions = [session.receive(frame(type="ping"), 1.0, time.time()) for _ in range(60)]
    assert isinstance(decisions[0], Ping)
    closes = [d for d in decisions if isinstance(d, Close)]
    assert len(closes) == 1
    assert closes[0].code == protocol.CLOSE_RATE_LIMITED
    assert session.phase is Phase.CLOSED
    assert decisions[-1] is None  # nothing more is heard from a closed session


def test_repeated_bad_frames_close_with_4429(keys: Keys) -> None:
    settings = GatewaySettings(bad_frames_burst=3)
    session = Session(keys.verifier, settings, now=0.0)
    decisions = [session.receive(b"nope", 0.0, time.time()) for _ in range(4)]
    assert [type(d) for d in decisions] == [Reply, Reply, Reply, Close]
    last = decisions[-1]
    assert isinstance(last, Close)
    assert last.code == protocol.CLOSE_RATE_LIMITED


def test_probing_other_accounts_conversations_closes_with_4403(keys: Keys) -> None:
    session = open_session(keys)
    first = session.forbidden(99, "a")
    assert error_code(first) == protocol.ERR_FORBIDDEN
    session.forbidden(98, None)
    third = session.forbidden(97, None)
    assert isinstance(third, Close)
    assert third.code == protocol.CLOSE_FORBIDDEN


def test_send_queue_counts_frames_still_buffered() -> None:
    queue = SendQueue(max_frames=3, max_bytes=1000, max_lag_s=60.0, clock=FakeClock())
    assert queue.admit(0, 100)  # the kernel took everything before
    assert queue.frames == 0
    assert queue.admit(50, 100)  # half of the first frame still waits
    assert queue.frames == 2
    assert queue.admit(150, 100)  # the second frame waits whole, the first half
    assert not queue.admit(350, 100)  # the fourth frame in the buffer is one too many
    assert queue.admit(0, 100)  # drained: back to nothing


def test_send_queue_bounds_bytes() -> None:
    queue = SendQueue(max_frames=1000, max_bytes=1000, max_lag_s=60.0, clock=FakeClock())
    assert queue.admit(0, 600)
    assert not queue.admit(600, 600)


def test_send_queue_forgets_frames_the_peer_has_read() -> None:
    queue = SendQueue(max_frames=2, max_bytes=10_000, max_lag_s=60.0, clock=FakeClock())
    queue.admit(0, 100)
    for _ in range(20):  # a steady reader keeps one frame waiting, never more
        assert queue.admit(100, 100)
    assert queue.frames == 2


def lagging_queue(clock: FakeClock) -> SendQueue:
    return SendQueue(max_frames=1000, max_bytes=1_000_000, max_lag_s=5.0, clock=clock)


def test_send_queue_bounds_how_long_the_oldest_frame_waits() -> None:
    clock = FakeClock()
    queue = lagging_queue(clock)
    assert queue.admit(0, 100)  # written at once
    clock.now += 1
    assert queue.admit(100, 100)  # the first frame waits, from now
    clock.now += 5
    assert queue.admit(200, 100)  # 5 s is the bound itself: still admitted
    clock.now += 0.5
    assert not queue.admit(300, 100)  # the first frame has waited 5.5 s


def test_send_queue_lag_counts_from_the_oldest_frame_still_waiting() -> None:
    clock = FakeClock()
    queue = lagging_queue(clock)
    queue.admit(0, 100)
    for _ in range(30):  # a slow but steady reader: each frame leaves within 2 s
        clock.now += 1
        assert queue.admit(200, 100)  # ... so the oldest waiting is never 5 s old
    clock.now += 1
    assert queue.admit(0, 100)  # caught up: nothing tracked any more
    assert not queue.waiting


def test_overdue_catches_a_stalled_reader_that_is_sent_nothing_more() -> None:
    clock = FakeClock()
    queue = lagging_queue(clock)
    queue.admit(0, 100)
    clock.now += 1
    queue.admit(100, 100)  # then the stream stops: no write will call admit again
    assert queue.waiting
    clock.now += 4
    assert not queue.overdue(200)
    clock.now += 2
    assert queue.overdue(200)  # the first frame has waited 6 s
    assert not queue.overdue(-1)  # the socket is closing already


def test_overdue_forgets_frames_read_meanwhile() -> None:
    clock = FakeClock()
    queue = lagging_queue(clock)
    queue.admit(0, 100)
    clock.now += 1
    queue.admit(100, 100)
    clock.now += 3
    queue.admit(200, 100)  # the third frame, 3 s after the second
    clock.now += 3
    assert not queue.overdue(100)  # the first two were read: the oldest waiting is 3 s old
    clock.now += 3
    assert queue.overdue(100)
    assert not queue.overdue(0)  # all read: nothing waits
    assert not queue.waiting
