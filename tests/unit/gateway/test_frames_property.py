"""Whatever a client sends, the parser and the session answer with a decision, never a crash.

Arbitrary bytes and text, arbitrary JSON values (deeply nested, huge numbers), each frame type
with every field of the wrong type, unknown types and binary frames go to `parse_frame` and to
a `Session` (before and after auth): each gives a valid frame, a `FrameError`, or a decision
whose frames are JSON a client can read.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedesk.gateway import protocol
from livedesk.gateway.frames import MAX_ID
from livedesk.gateway.protocol import Auth, FrameError, Ping, Subscribe, TypingFrame, Unsubscribe
from livedesk.gateway.session import Authenticated, Close, Decision, KeyUnknown, Reply, Session
from livedesk.shared.settings import GatewaySettings
from tests.support.gateway import Keys

LIMIT = 64 * 1024
SETTINGS = GatewaySettings(max_frame_bytes=LIMIT)
# A few hundred examples per property keep each test around a second on a busy machine; a
# failure found is shrunk and printed with the example that caused it.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIELDS = ("type", "ref", "token", "resume_from", "conversation_id", "state")
TYPES = ("auth", "subscribe", "unsubscribe", "typing", "ping")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)  # around the bigint bound
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    """`[[[...]]]` or `{"a":{"a":...}}` thousands deep, as a whole frame or in one field."""
    depth = draw(st.integers(min_value=1, max_value=20_000))
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nested = opening * depth + "1" + closing * depth
    field = draw(st.sampled_from([None, *FIELDS]))
    if field is None:
        return nested.encode()
    return ('{"type":"ping","' + field + '":' + nested + "}").encode()


@st.composite
def huge_numbers(draw: st.DrawFn) -> bytes:
    """Integers with thousands of digits and floats far beyond a double, in any field."""
    digits = draw(st.text("0123456789", min_size=1, max_size=6_000))
    number = draw(st.sampled_from([digits, "-" + digits, digits + "e999999", "1e-99999"]))
    field = draw(st.sampled_from(FIELDS))
    kind = draw(st.sampled_from(TYPES))
    return ('{"type":"' + kind + '","' + field + '":' + number + "}").encode()


@st.composite
def wrong_types(draw: st.DrawFn) -> bytes:
    """A known frame type whose fields hold any JSON value, plus unknown fields."""
    frame: dict[str, Any] = {"type": draw(st.sampled_from(TYPES))}
    for field in draw(st.lists(st.sampled_from(FIELDS[1:]), unique=True)):
        frame[field] = draw(json_values)
    frame.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return json.dumps(frame).encode()


@st.composite
def unknown_types(draw: st.DrawFn) -> bytes:
    kind = draw(json_values.filter(lambda value: value not in TYPES))
    return json.dumps({"type": kind, "ref": draw(json_values)}).encode()


@st.composite
def binary_frames(draw: st.DrawFn) -> bytes:
    """What a binary WebSocket frame may carry: JSON in other encodings, or anything."""
    text = json.dumps({"type": draw(st.sampled_from(TYPES)), "ref": draw(json_values)})
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1"]))
    encoded = text.encode(encoding, errors="replace")
    cut = draw(st.integers(min_value=0, max_value=len(encoded)))
    return draw(st.sampled_from([encoded, encoded[:cut], b"\x00" + encoded]))


frames = (
    st.binary(max_size=512)
    | st.text(max_size=512)
    | json_values.map(lambda value: json.dumps(value).encode())
    | deeply_nested()
    | huge_numbers()
    | wrong_types()
    | unknown_types()
    | binary_frames()
)


def assert_valid(frame: protocol.ClientFrame) -> None:
    """What a parsed frame promises the session: fields of the right type, in range."""
    assert frame.ref is None or isinstance(frame.ref, str | int)
    match frame:
        case Auth(token, resume_from, _):
            assert isinstance(token, str)
            assert token
            assert resume_from is None or 0 <= resume_from <= MAX_ID
        case Subscribe(conversation_id, _) | Unsubscribe(conversation_id, _):
            assert 1 <= conversation_id <= MAX_ID
        case TypingFrame(conversation_id, state, _):
            assert 1 <= conversation_id <= MAX_ID
            assert state in ("start", "stop")
        case Ping():
            pass


@FUZZ
@given(frames)
def test_the_parser_returns_a_valid_frame_or_a_frame_error(raw: bytes | str) -> None:
    try:
        frame = protocol.parse_frame(raw, LIMIT)
    except FrameError as error:
        reply = json.loads(protocol.error(error.code, error.message, error.ref))
        assert reply["type"] == "error"
        assert len(reply["message"]) <= 200
    else:
        assert_valid(frame)


@pytest.mark.parametrize("depth", [1_000, 5_000, 10_000])
@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_a_frame_nested_thousands_deep_is_a_bad_frame(
    depth: int, opening: str, closing: str
) -> None:
    raw = (opening * depth + closing * depth).encode()
    assert len(raw) < LIMIT  # not refused for its size
    with pytest.raises(FrameError) as caught:
        protocol.parse_frame(raw, LIMIT)
    assert caught.value.code == protocol.ERR_INVALID


def test_a_type_nested_near_the_decoders_limit_is_a_bad_frame() -> None:
    # Every depth on either side of the interpreter's recursion limit: the shallower ones
    # decode (an unknown type, named in the error), the deeper ones are refused.
    for depth in range(1, 2 * sys.getrecursionlimit()):
        raw = b'{"type":' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(FrameError) as caught:
            protocol.parse_frame(raw, LIMIT)
        assert caught.value.code in (protocol.ERR_UNKNOWN_TYPE, protocol.ERR_INVALID)


def assert_decision(decision: Decision) -> None:
    """A decision the node can carry out; any frame in it is a JSON object with a type."""
    if isinstance(decision, Reply | Close):
        if decision.frame is not None:
            sent = json.loads(decision.frame)
            assert isinstance(sent, dict)
            assert sent["type"] in ("error", "auth_renewed")
        if isinstance(decision, Close):
            assert 1000 <= decision.code < 5000
    elif isinstance(decision, Authenticated):
        assert decision.claims.account_id > 0
    elif isinstance(decision, KeyUnknown):
        assert decision.frame.token
    elif decision is not None:
        assert_valid(decision)


@FUZZ
@given(authenticated=st.booleans(), sequence=st.lists(frames, min_size=1, max_size=8))
def test_a_session_decides_on_every_frame(
    keys: Keys, authenticated: bool, sequence: list[bytes | str]
) -> None:
    wall = time.time()
    session = Session(keys.verifier, SETTINGS, now=0.0)
    if authenticated:
        auth = json.dumps({"type": "auth", "token": keys.token(1, 2)}).encode()
        assert isinstance(session.receive(auth, 0.0, wall), Authenticated)
    for index, raw in enumerate(sequence):
        decision = session.receive(raw, 0.01 * index, wall)
        assert_decision(decision)
        if isinstance(decision, Subscribe):
            session.subscription_granted(decision.conversation_id)


@FUZZ
@given(token=st.text(max_size=2_000) | st.binary(max_size=600).map(lambda b: b.hex()))
def test_any_token_is_refused_with_an_error_frame(keys: Keys, token: str) -> None:
    session = Session(keys.verifier, SETTINGS, now=0.0)
    decision = session.receive(json.dumps({"type": "auth", "token": token}), 0.0, time.time())
    assert_decision(decision)
    assert isinstance(decision, Reply | Close)  # only a signed token opens a session
