"""Heartbeats encoded with the sockets' JSON kept while the sockets stay the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from livedesk.gateway import presence_client
from livedesk.gateway.presence_client import HeartbeatEncoder
from livedesk.shared.presence_messages import (
    NodeHeartbeat,
    SocketRef,
    decode_message,
    encode_message,
)


def beat(seq: int, sockets: tuple[SocketRef, ...] = ()) -> NodeHeartbeat:
    return NodeHeartbeat(
        node="gw-1",
        sent_at=datetime(2026, 1, 1, 0, 0, seq, tzinfo=UTC),
        seq=seq,
        epoch="1-abc",
        interval_s=5.0,
        sockets=sockets,
    )


def ref(n: int) -> SocketRef:
    return SocketRef(socket_id=f"s{n}", account_id=n, user_id=n + 100)


class CountingAdapter:
    def __init__(self) -> None:
        self.calls = 0
        self._inner = presence_client._socket_list

    def dump_json(self, sockets: tuple[SocketRef, ...]) -> bytes:
        self.calls += 1
        return self._inner.dump_json(sockets)


def test_the_bytes_are_those_of_the_whole_heartbeat() -> None:
    encoder = HeartbeatEncoder()
    one, two, three = ref(1), ref(2), ref(3)
    for seq, sockets in enumerate([(), (one, two), (one, two), (two, three), ()]):
        body = encoder.encode(beat(seq), sockets)
        assert body == encode_message(beat(seq, sockets))
        assert decode_message(body) == beat(seq, sockets)


def test_the_sockets_are_encoded_again_only_when_they_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = CountingAdapter()
    monkeypatch.setattr(presence_client, "_socket_list", counting)
    encoder = HeartbeatEncoder()
    refs = tuple(ref(n) for n in range(1, 1001))
    for seq in range(5):
        encoder.encode(beat(seq), refs)
    assert counting.calls == 1
    encoder.encode(beat(5), refs[1:])  # one socket left
    assert counting.calls == 2
    same_values = tuple(ref(n) for n in range(2, 1001))  # new objects, equal values
    assert encoder.encode(beat(6), same_values) == encode_message(beat(6, same_values))
    assert counting.calls == 2


def test_a_heartbeat_that_carries_its_own_sockets_is_refused() -> None:
    with pytest.raises(ValueError, match="apart"):
        HeartbeatEncoder().encode(beat(0, (ref(1),)), (ref(1),))
