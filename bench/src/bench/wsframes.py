"""A WebSocket client's side of RFC 6455, sans-I/O, for the benches' load generators.

Bytes in, frames out: the HTTP/1.1 upgrade request and the check of its answer, a parser of
server frames, and masked client frames. It is only as much of the protocol as a load
generator needs, because a full client library costs more CPU per received frame than the
servers it measures (a reader task, an assembler and several objects per frame). Servers
never mask and nothing here offers permessage-deflate, so a frame's payload is a plain slice
of what was read.
Deliberately not here: sockets, timers, what the payloads mean, and a server's side (it
rejects masked frames instead of unmasking them).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Callable
from typing import Final

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
CLOSE_NORMAL: Final = 1000
CLOSE_NO_STATUS: Final = 1005  # a close frame without a code
CLOSE_ABNORMAL: Final = 1006  # the connection ended without a close frame
_FIN: Final = 0x80
_MASKED: Final = 0x80
_ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_HEAD_END: Final = b"\r\n\r\n"


class HandshakeError(ConnectionError):
    """The server did not switch protocols, or answered for another key."""


class FrameError(ConnectionError):
    """Bytes no WebSocket server sends: the connection cannot go on."""


def new_key() -> bytes:
    return base64.b64encode(os.urandom(16))


def upgrade_request(host: str, path: str, key: bytes) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\n\r\n"
    ).encode()


def upgrade_end(buffer: bytes | bytearray, key: bytes) -> int:
    """Where the frames start after a complete, accepted upgrade answer; -1 if incomplete."""
    end = buffer.find(_HEAD_END)
    if end < 0:
        return -1
    head = bytes(buffer[:end])
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 101"):
        raise HandshakeError(status.decode(errors="replace")[:80])
    accept = base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())
    if b"\r\nsec-websocket-accept: " + accept.lower() not in head.lower():
        raise HandshakeError("Sec-WebSocket-Accept does not match the key")
    return end + len(_HEAD_END)


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame, masked with a fresh key as RFC 6455 requires of clients."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", _FIN | opcode, _MASKED | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN | opcode, _MASKED | 126, size)
    else:
        header = struct.pack("!BBQ", _FIN | opcode, _MASKED | 127, size)
    key = os.urandom(4)
    return header + key + _mask(payload, key)


def close_frame(code: int) -> bytes:
    return client_frame(OP_CLOSE, struct.pack("!H", code))


def close_code(payload: bytes) -> int:
    """The status code a close frame's payload carries."""
    return int(struct.unpack_from("!H", payload)[0]) if len(payload) >= 2 else CLOSE_NO_STATUS


def _mask(payload: bytes, key: bytes) -> bytes:
    # One big-integer XOR: a Python loop over the bytes would cost more than the frame.
    size = len(payload)
    keys = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(size, "big")


class FrameParser:
    """Server frames from a byte stream, each handed to `on_frame(opcode, payload)` whole.

    A fragmented message is joined and handed over with its first frame's opcode; control
    frames between its fragments are handed over as they come.
    """

    __slots__ = ("_fragmented_opcode", "_fragments", "_need", "_on_frame", "_partial")

    def __init__(self, on_frame: Callable[[int, bytes], None]) -> None:
        self._on_frame = on_frame
        # The start of a frame not complete yet, and how many bytes it needs at least: a
        # large frame arriving in many reads is joined once, not re-parsed every read.
        self._partial = bytearray()
        self._need = 0
        self._fragments: list[bytes] = []
        self._fragmented_opcode = 0

    def feed(self, data: bytes) -> None:
        if self._partial:
            self._partial += data
            if len(self._partial) < self._need:
                return
            data = bytes(self._partial)
            self._partial.clear()
        # Frames are sliced out of `data` by position: one copy per payload, none per frame
        # header, and the rest of the read is never moved.
        position, end = 0, len(data)
        on_frame = self._on_frame
        while True:
            if end - position < 2:
                self._need = 2
                break
            first, size = data[position], data[position + 1]
            if size & _MASKED:
                raise FrameError("a server frame is masked")
            size &= 0x7F
            start = position + 2
            if size == 126:
                if end - position < 4:
                    self._need = 4
                    break
                size = (data[start] << 8) | data[start + 1]
                start += 2
            elif size == 127:
                if end - position < 10:
                    self._need = 10
                    break
                size = int(struct.unpack_from("!Q", data, start)[0])
                start += 8
            stop = start + size
            if stop > end:
                self._need = stop - position
                break
            opcode = first & 0x0F
            if first & _FIN and opcode:  # the usual case: a whole message in one frame
                on_frame(opcode, data[start:stop])
            else:
                self._fragment(first & _FIN, opcode, data[start:stop])
            position = stop
        if position < end:
            self._partial += data[position:]

    def _fragment(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode:
            self._fragmented_opcode, self._fragments = opcode, [payload]
        elif not self._fragments:
            raise FrameError("a continuation frame without a message to continue")
        else:
            self._fragments.append(payload)
        if fin:
            message, self._fragments = b"".join(self._fragments), []
            self._on_frame(self._fragmented_opcode, message)
