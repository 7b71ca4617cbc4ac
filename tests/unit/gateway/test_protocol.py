"""The /ws frame syntax: every client frame, every error code, the ref echo, server frames."""

from __future__ import annotations

import json

import pytest

from livedesk.gateway import protocol
from livedesk.gateway.protocol import Auth, FrameError, Ping, Subscribe, TypingFrame, Unsubscribe
from livedesk.shared.events import TypingState

LIMIT = 1024


def parse(frame: object) -> protocol.ClientFrame:
    return protocol.parse_frame(json.dumps(frame).encode(), LIMIT)


def test_each_client_frame_parses_with_its_ref() -> None:
    assert parse({"type": "auth", "token": "t", "resume_from": 7, "ref": "a"}) == Auth("t", 7, "a")
    assert parse({"type": "auth", "token": "t"}) == Auth("t", None)
    assert parse({"type": "subscribe", "conversation_id": 3, "ref": 1}) == Subscribe(3, 1)
    assert parse({"type": "unsubscribe", "conversation_id": 3}) == Unsubscribe(3)
    typing = parse({"type": "typing", "conversation_id": 3, "state": "start"})
    assert typing == TypingFrame(3, TypingState.START)
    assert parse({"type": "ping", "ref": "p"}) == Ping("p")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"x" * (LIMIT + 1), protocol.ERR_TOO_LARGE),
        (b"{not json", protocol.ERR_NOT_JSON),
        (b"\xff\xfe", protocol.ERR_NOT_JSON),
        (b"[1, 2]", protocol.ERR_NOT_OBJECT),
        (b'"auth"', protocol.ERR_NOT_OBJECT),
        (b'{"type": "shout"}', protocol.ERR_UNKNOWN_TYPE),
        (b'{"no": "type"}', protocol.ERR_UNKNOWN_TYPE),
        (b'{"type": "subscribe"}', protocol.ERR_INVALID),
        (b'{"type": "subscribe", "conversation_id": "3"}', protocol.ERR_INVALID),
        (b'{"type": "subscribe", "conversation_id": 0}', protocol.ERR_INVALID),
        (b'{"type": "subscribe", "conversation_id": true}', protocol.ERR_INVALID),
        (b'{"type": "subscribe", "conversation_id": 9223372036854775808}', protocol.ERR_INVALID),
        (b'{"type": "typing", "conversation_id": 1, "state": "maybe"}', protocol.ERR_INVALID),
        (b'{"type": "auth"}', protocol.ERR_INVALID),
        (b'{"type": "auth", "token": ""}', protocol.ERR_INVALID),
        (b'{"type": "auth", "token": "t", "resume_from": -1}', protocol.ERR_INVALID),
        (b'{"type": "ping", "ref": {"nested": 1}}', protocol.ERR_INVALID),
        (b'{"type": "ping", "ref": "' + b"r" * 65 + b'"}', protocol.ERR_INVALID),
    ],
)
def test_bad_frames_raise_a_stable_code(raw: bytes, code: str) -> None:
    with pytest.raises(FrameError) as caught:
        protocol.parse_frame(raw, LIMIT)
    assert caught.value.code == code


def test_an_invalid_frame_still_echoes_a_readable_ref() -> None:
    with pytest.raises(FrameError) as caught:
        parse({"type": "subscribe", "conversation_id": "x", "ref": "r1"})
    assert caught.value.ref == "r1"
    with pytest.raises(FrameError) as unknown:
        parse({"type": "nope", "ref": 5})
    assert unknown.value.ref == 5


def test_server_frames_are_compact_json_with_ref() -> None:
    ready = json.loads(protocol.ready("gw-1", 4, 9, 120, 3.0, ref="a"))
    assert ready == {
        "type": "ready", "node": "gw-1", "account_id": 4, "user_id": 9, "offset": 120,
        "typing_interval_s": 3.0, "ref": "a",
    }  # fmt: skip
    assert json.loads(protocol.pong(5, 1)) == {"type": "pong", "offset": 5, "ref": 1}
    assert json.loads(protocol.subscribed(3, [7])) == {
        "type": "subscribed", "conversation_id": 3, "typing": [7],
    }  # fmt: skip
    error = json.loads(protocol.error("forbidden", "no", "r"))
    assert error == {"type": "error", "code": "forbidden", "message": "no", "ref": "r"}
    assert json.loads(protocol.resync_required(10, "m"))["type"] == "resync_required"
    assert json.loads(protocol.reconnect("m"))["type"] == "reconnect"
    assert b" " not in protocol.pong(1)


def test_close_codes_are_the_designs() -> None:
    codes = (
        protocol.CLOSE_UNAUTHENTICATED, protocol.CLOSE_FORBIDDEN, protocol.CLOSE_AUTH_TIMEOUT,
        protocol.CLOSE_TOO_SLOW, protocol.CLOSE_RATE_LIMITED, protocol.CLOSE_GOING_AWAY,
    )  # fmt: skip
    assert codes == (4401, 4403, 4408, 4409, 4429, 1001)
