"""The benches' lean WebSocket client: frames in as bytes cut anywhere, masked frames out, the
upgrade checked, pings answered and close codes read, without a socket.

Server frames are built here by hand from RFC 6455 (never masked); client frames are read
back by unmasking them, as a server does.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import struct
from typing import Any

import pytest

from bench.wsclient import WebSocketClient
from bench.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameParser,
    HandshakeError,
    client_frame,
    close_code,
    upgrade_end,
    upgrade_request,
)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example key
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # and its answer


def accept_for(key: bytes) -> bytes:
    """What a server answers to `key` (RFC 6455 4.2.2), computed apart from the client's."""
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", first, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def read_client_frame(data: bytes) -> tuple[int, bytes, bytes]:
    """(opcode, payload, rest) of one client frame, unmasked as a server does."""
    assert data[0] & 0x80, "client frames here are final"
    assert data[1] & 0x80, "client frames must be masked"
    size, at = data[1] & 0x7F, 2
    if size == 126:
        size, at = struct.unpack_from("!H", data, 2)[0], 4
    elif size == 127:
        size, at = struct.unpack_from("!Q", data, 2)[0], 10
    key, body = data[at : at + 4], data[at + 4 : at + 4 + size]
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(body))
    return data[0] & 0x0F, payload, data[at + 4 + size :]


# A stream with every length encoding, control frames, and a fragmented message with a ping
# between its fragments.
STREAM_FRAMES = [
    (OP_TEXT, b'{"type":"ready","offset":0}'),
    (OP_TEXT, b""),
    (OP_TEXT, b"x" * 126),
    (OP_TEXT, b"y" * 300),  # a 16-bit length of two non-zero bytes
    (OP_BINARY, bytes(range(256)) * 300),  # 76,800 bytes: the 64-bit length
    (OP_PING, b"hb"),
]
WIRE_FRAMES = [
    *(server_frame(op, payload) for op, payload in STREAM_FRAMES),
    server_frame(OP_TEXT, b"42[", fin=False),
    server_frame(OP_PING, b""),
    server_frame(OP_CONTINUATION, b'"e",', fin=False),
    server_frame(OP_CONTINUATION, b"{}]"),
    server_frame(OP_CLOSE, struct.pack("!H", 4409) + b"too slow"),
]
STREAM = b"".join(WIRE_FRAMES)
EXPECTED = [
    *STREAM_FRAMES,
    (OP_PING, b""),
    (OP_TEXT, b'42["e",{}]'),
    (OP_CLOSE, struct.pack("!H", 4409) + b"too slow"),
]


def parse_in_pieces(pieces: list[bytes]) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    parser = FrameParser(lambda opcode, payload: frames.append((opcode, payload)))
    for piece in pieces:
        parser.feed(piece)
    return frames


def cut_points() -> list[int]:
    """Every place a cut can fall that the parser treats apart: each byte of each frame's
    head (its 64-bit length is 10 bytes), the bytes either side of each frame's end, and
    places inside the payloads. A cut inside a payload is like any other cut inside it, so
    a stride through them (a prime, against lining up with the frames) stands for the rest:
    every one of the 78,000 cuts cost the suite seconds for nothing more."""
    edges = [0, *itertools.accumulate(len(frame) for frame in WIRE_FRAMES)]
    near = {edge + step for edge in edges for step in range(-2, 16)}
    inside = set(range(1, len(STREAM), 997))
    return sorted(cut for cut in near | inside if 0 < cut < len(STREAM))


def test_frames_come_out_whole_wherever_the_stream_is_cut() -> None:
    assert parse_in_pieces([STREAM]) == EXPECTED
    for cut in cut_points():
        assert parse_in_pieces([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_frames_come_out_whole_from_reads_of_any_size() -> None:
    for size in (1, 2, 3, 7, 1000, 65536):
        pieces = [STREAM[at : at + size] for at in range(0, len(STREAM), size)]
        assert parse_in_pieces(pieces) == EXPECTED, size


def test_payloads_are_bytes_for_the_codecs() -> None:
    frames = parse_in_pieces([STREAM[:10], STREAM[10:]])
    assert all(type(payload) is bytes for _, payload in frames)


def test_a_masked_or_orphan_server_frame_is_refused() -> None:
    with pytest.raises(FrameError, match="masked"):
        parse_in_pieces([client_frame(OP_TEXT, b"hi")])
    with pytest.raises(FrameError, match="continuation"):
        parse_in_pieces([server_frame(OP_CONTINUATION, b"x")])


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_client_frames_are_masked_and_unmask_to_the_payload(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = client_frame(OP_TEXT, payload)
    assert read_client_frame(frame) == (OP_TEXT, payload, b"")
    if size >= 8:  # a fresh key each frame, never all zeros: the payload is not sent as is
        assert payload not in frame


def test_close_code_is_read_or_1005_without_one() -> None:
    assert close_code(struct.pack("!H", 4409) + b"reason") == 4409
    assert close_code(b"") == 1005


def test_the_upgrade_answer_is_checked_against_the_key() -> None:
    request = upgrade_request("127.0.0.1:8000", "/socket.io/?EIO=4&transport=websocket", KEY)
    assert request.startswith(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
    assert b"\r\nSec-WebSocket-Key: " + KEY + b"\r\n" in request
    assert accept_for(KEY) == ACCEPT
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    answer = head + b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n\r\n"
    assert upgrade_end(answer[:-1], KEY) == -1
    assert upgrade_end(answer + b"\x81\x00", KEY) == len(answer)
    with pytest.raises(HandshakeError, match="403"):
        upgrade_end(b"HTTP/1.1 403 Forbidden\r\n\r\n", KEY)
    with pytest.raises(HandshakeError, match="Accept"):
        upgrade_end(head + b"Sec-WebSocket-Accept: bm9wZQ==\r\n\r\n", KEY)


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def sent(self) -> list[tuple[int, bytes]]:
        """The client frames written after the upgrade request."""
        data = self.written[self.written.index(b"\r\n\r\n") + 4 :]
        frames = []
        while data:
            opcode, payload, data = read_client_frame(data)
            frames.append((opcode, payload))
        return frames


class Recorder(WebSocketClient):
    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", "/ws")
        self.events: list[Any] = []

    def opened(self) -> None:
        self.events.append("opened")
        self.send_text(b"auth")

    def text_received(self, payload: bytes) -> None:
        self.events.append(payload)

    def close_received(self, code: int) -> None:
        self.events.append(("close", code))

    def failed(self, error: Exception) -> None:
        self.events.append(type(error).__name__)


def connected() -> tuple[Recorder, FakeTransport, bytes]:
    """A client with its transport, and the server's upgrade answer for it."""
    client, transport = Recorder(), FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]  # what the client uses of one
    key = transport.written.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    answer = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept_for(key)
    answer += b"\r\n\r\n"
    return client, transport, answer


def test_client_upgrades_then_answers_pings_and_echoes_the_close_code() -> None:
    client, transport, answer = connected()
    stream = (
        answer
        + server_frame(OP_TEXT, b"0{}")
        + server_frame(OP_PING, b"beat")
        + server_frame(OP_CLOSE, struct.pack("!H", 4409))
        + server_frame(OP_TEXT, b"after the close")
    )
    for at in range(len(stream)):  # one byte a read: the upgrade answer is cut too
        client.data_received(stream[at : at + 1])
    assert client.events == ["opened", b"0{}", ("close", 4409)]
    assert transport.sent() == [
        (OP_TEXT, b"auth"),
        (OP_PONG, b"beat"),
        (OP_CLOSE, struct.pack("!H", 4409)),
    ]
    assert transport.closed


def test_client_refuses_a_refused_upgrade_and_a_masked_frame() -> None:
    client, transport, _ = connected()
    client.data_received(b"HTTP/1.1 404 Not Found\r\n\r\n")
    assert (client.events, transport.closed) == (["HandshakeError"], True)
    client, transport, answer = connected()
    client.data_received(answer + client_frame(OP_TEXT, b"masked"))
    assert (client.events, transport.closed) == (["opened", "FrameError"], True)


def test_client_close_is_sent_once_and_nothing_after_it() -> None:
    client, transport, answer = connected()
    client.data_received(answer)
    client.close()
    client.close()
    client.send_text(b"late")
    client.data_received(server_frame(OP_PING, b"p"))
    assert transport.sent() == [(OP_TEXT, b"auth"), (OP_CLOSE, struct.pack("!H", 1000))]
