"""The fan-out bench's wire codecs, ledgers and window comparisons, so that the load generator
and its figures cannot rot silently.

Frames are the ones python-socketio and the Livedesk gateway put on the wire; the socket.io
side is checked against python-socketio's own packet encoder, so a change in the library's
format breaks here rather than in a benchmark that then measures nothing.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime

import pytest
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from bench.fanout.codecs import CodecError, Kind, LivedeskCodec, SocketIOCodec, parse_ts
from bench.fanout.stats import Histogram, Ledger, above_idle, neighbour_shift, spread
from livedesk.shared import events


def library_event(name: str, data: object) -> str:
    """The text frame python-socketio writes for `emit(name, data)` on the default namespace."""
    packet = sio_packet.Packet(sio_packet.EVENT, namespace="/", data=[name, data])
    encoded = eio_packet.Packet(eio_packet.MESSAGE, packet.encode()).encode()
    assert isinstance(encoded, str)
    return encoded


def test_socketio_event_matches_the_library_and_parses() -> None:
    data = {"seq": 7, "ts": 1_700_000_000.25, "account_id": 3, "content": "hi"}
    frame = library_event("new_message", data)
    assert frame == SocketIOCodec.event_frame("new_message", data)
    parsed = SocketIOCodec.parse(frame)
    assert (parsed.kind, parsed.seq, parsed.ts, parsed.name) == (
        Kind.EVENT,
        7,
        1_700_000_000.25,
        "new_message",
    )


def test_socketio_handshake_ping_and_refusal() -> None:
    assert SocketIOCodec.parse('0{"sid":"x","pingInterval":25000}').kind is Kind.OPEN
    connect = SocketIOCodec.connect_frame({"account_id": 5})
    assert connect == '40{"account_id":5}'
    library = sio_packet.Packet(sio_packet.CONNECT, namespace="/", data={"account_id": 5})
    assert connect == "4" + library.encode()
    assert SocketIOCodec.parse('40{"sid":"abc"}').kind is Kind.LIVE
    ping = SocketIOCodec.parse("2")
    assert (ping.kind, ping.reply) == (Kind.PING, "3")
    assert SocketIOCodec.parse('44{"message":"Connection rejected by server"}').kind is (
        Kind.REFUSED
    )
    assert SocketIOCodec.parse("41").kind is Kind.CLOSE


@pytest.mark.parametrize("frame", ["", "9", "4", '42["x"]', '42["x",{"ts":1}]', "42not json"])
def test_socketio_rejects_malformed_frames(frame: str) -> None:
    with pytest.raises(CodecError):
        SocketIOCodec.parse(frame)


def test_livedesk_event_as_the_shared_encoder_writes_it() -> None:
    ts = datetime(2026, 11, 27, 3, 0, 0, 500_000, tzinfo=UTC)
    event = events.NewMessage(
        offset=41,
        account_id=2,
        conversation_id=9,
        ts=ts,
        data=events.MessageData(
            id=1,
            conversation_id=9,
            kind=events.MessageKind.INCOMING,
            content="hello",
            sender_type=events.SenderType.CONTACT,
            created_at=ts,
        ),
    )
    parsed = LivedeskCodec.parse(events.encode(event))
    assert (parsed.kind, parsed.seq, parsed.name) == (Kind.EVENT, 41, "new_message")
    assert parsed.ts == pytest.approx(ts.timestamp())


def members(union: object) -> tuple[type[events.Model], ...]:
    """The event models of an `Annotated[A | B | ..., discriminator]` union."""
    return typing.get_args(typing.get_args(union)[0])


@pytest.mark.parametrize("model", members(events.PersistentEvent))
def test_every_persistent_event_is_counted_and_no_ephemeral_one(
    model: type[events.Model],
) -> None:
    """What the ledger counts follows the product's declaration of its events."""
    name = model.model_fields["type"].default
    parsed = LivedeskCodec.parse(json.dumps({"type": name, "offset": 3, "ts": 1.5}))
    assert (parsed.kind, parsed.seq, parsed.ts, parsed.name) == (Kind.EVENT, 3, 1.5, name)
    for ephemeral in members(events.EphemeralEvent):
        other = ephemeral.model_fields["type"].default
        assert LivedeskCodec.parse(json.dumps({"type": other})).kind is Kind.CONTROL, other


def test_livedesk_auth_ready_and_control_frames() -> None:
    assert json.loads(LivedeskCodec.auth_frame("t0k", 12)) == {
        "type": "auth",
        "token": "t0k",
        "resume_from": 12,
    }
    assert "resume_from" not in json.loads(LivedeskCodec.auth_frame("t0k"))
    ready = LivedeskCodec.parse(
        '{"type":"ready","node":"n1","account_id":2,"user_id":3,"offset":40}'
    )
    assert (ready.kind, ready.seq) == (Kind.LIVE, 40)
    assert LivedeskCodec.parse('{"type":"pong","offset":40}').kind is Kind.CONTROL
    refused = LivedeskCodec.parse('{"type":"error","code":"invalid_frame","message":"x"}')
    assert (refused.kind, refused.name) == (Kind.REFUSED, "error invalid_frame")
    assert LivedeskCodec.parse('{"type":"resync_required","offset":3}').kind is Kind.REFUSED


@pytest.mark.parametrize(
    "frame", ["nope", "[]", '{"offset":1}', '{"type":"new_message","offset":1}']
)
def test_livedesk_rejects_malformed_frames(frame: str) -> None:
    with pytest.raises(CodecError):
        LivedeskCodec.parse(frame)


def test_parse_ts_accepts_iso_and_numbers() -> None:
    assert parse_ts("1970-01-01T00:00:01Z") == 1.0
    assert parse_ts(2.5) == 2.5
    with pytest.raises(ValueError, match="neither"):
        parse_ts(None)


def test_ledger_counts_duplicates_gaps_and_missing_tail() -> None:
    ledger = Ledger()
    ledger.start(10)
    for seq in (11, 12, 12, 14, 13, 15):
        ledger.record(seq)
    assert (ledger.received, ledger.duplicates, ledger.gaps, ledger.last) == (6, 2, 1, 15)
    assert ledger.missing(expected_last=17) == 3
    ledger.reset_counts()
    assert (ledger.received, ledger.gaps, ledger.last) == (0, 0, 15)


def test_histogram_percentiles_within_one_percent_and_merge() -> None:
    first, second = Histogram(), Histogram()
    for millis in range(1, 101):
        (first if millis % 2 else second).add(millis / 1000)
    merged = Histogram.merged([Histogram.from_json(first.to_json()), second])
    assert merged.count == 100
    p50, p99 = merged.percentile(0.5), merged.percentile(0.99)
    assert p50 is not None
    assert p99 is not None
    assert p50 == pytest.approx(0.050, rel=0.011)
    assert p99 == pytest.approx(0.099, rel=0.011)
    assert Histogram().percentile(0.5) is None


def test_a_window_is_compared_with_the_mean_of_its_neighbours() -> None:
    assert neighbour_shift(100.0, 121.0, 120.0) == pytest.approx(0.1)
    assert neighbour_shift(100.0, 90.0, None) == pytest.approx(-0.1)  # the last window
    assert neighbour_shift(None, 90.0, None) is None
    assert neighbour_shift(100.0, None, 100.0) is None
    assert neighbour_shift(0.0, 5.0, 0.0) is None


def test_spread_is_the_range_over_the_mean_of_what_is_present() -> None:
    assert spread([90.0, 110.0, None, 100.0]) == pytest.approx(0.2)
    assert spread([None]) is None
    assert spread([]) is None


def test_a_windows_node_cpu_is_split_into_the_fixed_cost_and_a_cost_per_event() -> None:
    window = {"elapsed_s": 10.0, "node_cpu_s": 2.0, "published": 1000}
    split = above_idle(0.05, window)  # half a core-second of the two is the fixed cost
    assert split["idle_node_cpu_share"] == 0.05
    assert split["idle_part_of_node_cpu"] == pytest.approx(0.25)
    assert split["node_cpu_us_per_event_above_idle"] == pytest.approx(1500.0)
    assert above_idle(None, window) == {}
    nothing = above_idle(0.05, {"elapsed_s": 1.0, "node_cpu_s": 0.0, "published": 0})
    assert nothing["idle_part_of_node_cpu"] is None
    assert nothing["node_cpu_us_per_event_above_idle"] is None
