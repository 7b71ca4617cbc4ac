"""The client's decisions without sockets: offset dedupe, the back-off schedule, the state
machine's answer to each close, and reading a token's expiry."""

from __future__ import annotations

import base64
import json

import pytest

from livedesk_client import frames
from livedesk_client.backoff import Backoff
from livedesk_client.machine import Machine, Retry, State, Stop
from livedesk_client.offsets import OffsetCursor
from livedesk_client.tokens import expires_at

# -- offsets ------------------------------------------------------------------------------


def test_a_resumed_stream_overlapping_the_last_one_delivers_each_offset_once() -> None:
    cursor = OffsetCursor()
    assert cursor.resume_from() is None  # a first socket asks for nothing old
    cursor.ready(4)
    delivered = [offset for offset in (5, 6, 7) if cursor.accept(offset)]
    assert cursor.resume_from() == 7
    cursor.ready(9)  # the next node is further on: the cursor still resumes from 7
    delivered += [offset for offset in (6, 7, 8, 9, 10, 8) if cursor.accept(offset)]
    assert delivered == [5, 6, 7, 8, 9, 10]


def test_a_start_offset_is_where_the_first_socket_resumes() -> None:
    cursor = OffsetCursor(12)
    cursor.ready(30)
    assert cursor.resume_from() == 12
    assert not cursor.accept(12)
    assert cursor.accept(13)


def test_resync_moves_the_cursor_even_backwards() -> None:
    cursor = OffsetCursor(50)  # it claimed offsets the server never had
    cursor.resync(20)
    assert cursor.accept(21)


def test_a_negative_start_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        OffsetCursor(-1)


# -- back-off ------------------------------------------------------------------------------


def test_backoff_doubles_its_ceiling_up_to_the_cap_with_full_jitter() -> None:
    draws = iter([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0])
    backoff = Backoff(base_s=0.5, cap_s=3.0, rand=lambda: next(draws))
    assert [backoff.next_delay_s() for _ in range(7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 1.5, 0.0]
    backoff.reset()
    assert backoff.ceiling_s() == 0.5


def test_backoff_after_very_many_attempts_stays_at_the_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, rand=lambda: 1.0)
    backoff.attempt = 5000
    assert backoff.next_delay_s() == 30.0


def test_backoff_refuses_a_cap_below_its_base() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=2.0, cap_s=1.0)


# -- the state machine ---------------------------------------------------------------------


def machine() -> tuple[Machine, list[tuple[State, float | None]]]:
    seen: list[tuple[State, float | None]] = []
    return Machine(Backoff(1.0, 8.0, rand=lambda: 1.0), lambda *c: seen.append(c)), seen


@pytest.mark.parametrize("code", [1001, 1011, 1013, 4408, 4409, 4429, 1006, None])
def test_other_closes_retry_on_the_next_url_after_a_growing_delay(code: int | None) -> None:
    states, seen = machine()
    states.connecting()
    states.opened()
    assert states.closed(code, "") == Retry(1.0, renew_token=False, next_url=True)
    states.connecting()
    assert states.closed(code, "") == Retry(2.0, renew_token=False, next_url=True)
    states.connecting()
    states.opened()  # a socket that worked starts the schedule again
    assert states.closed(code, "") == Retry(1.0, renew_token=False, next_url=True)
    assert [state for state, _ in seen] == [
        State.CONNECTING, State.OPEN, State.RECONNECTING, State.CONNECTING,
        State.RECONNECTING, State.CONNECTING, State.OPEN, State.RECONNECTING,
    ]  # fmt: skip
    assert [delay for state, delay in seen if state is State.RECONNECTING] == [1.0, 2.0, 1.0]


def test_an_expired_token_is_renewed_and_the_same_node_tried_again() -> None:
    states, _ = machine()
    states.connecting()
    decision = states.closed(4401, "token_expired")
    assert isinstance(decision, Retry)
    assert decision.renew_token
    assert not decision.next_url


@pytest.mark.parametrize(("code", "reason"), [(4401, "token_invalid"), (4401, ""), (4403, "")])
def test_refusals_retrying_cannot_fix_stop_the_client(code: int, reason: str) -> None:
    states, seen = machine()
    states.connecting()
    decision = states.closed(code, reason)
    assert isinstance(decision, Stop)
    assert states.state is State.OFFLINE
    assert seen[-1] == (State.OFFLINE, None)


# -- frames and tokens ---------------------------------------------------------------------


def test_only_events_have_offsets() -> None:
    assert frames.offset_of({"type": "new_message", "offset": 3, "data": {}}) == 3
    assert frames.offset_of({"type": "pong", "offset": 3}) is None
    assert frames.offset_of({"type": "ready", "offset": 3}) is None
    assert frames.offset_of({"type": "typing", "conversation_id": 1}) is None


def test_a_frame_that_is_not_an_object_with_a_type_is_a_protocol_error() -> None:
    for raw in ("[1]", "nope", '{"type": 1}'):
        with pytest.raises(frames.ProtocolError):
            frames.parse(raw)


def jwt(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{body}.c2ln"


def test_a_tokens_expiry_is_read_from_its_exp_claim() -> None:
    assert expires_at(jwt({"exp": 1700000000, "sub": "1"})) == 1700000000.0
    assert expires_at(jwt({"sub": "1"})) is None
    assert expires_at("opaque-token") is None
    assert expires_at("a.!!!.c") is None
