"""WebSocket clients written by hand, for what a library client would not do: stay silent to
pings, stop reading with a small receive buffer, compare the very bytes of a frame."""

from __future__ import annotations

import asyncio
import json
import socket

OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA

_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


def masked_text(payload: bytes) -> bytes:
    """A client's text frame (clients mask; an all-zero mask leaves the payload as it is)."""
    return bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + b"\0" * 4 + payload


def masked_pong(payload: bytes) -> bytes:
    return bytes([0x80 | OPCODE_PONG, 0x80 | len(payload)]) + b"\0" * 4 + payload


def auth_frame(token: str) -> bytes:
    return masked_text(json.dumps({"type": "auth", "token": token}).encode())


async def raw_client(
    host: str, port: int, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket speaking WebSocket by hand: handshake and auth, then only what the test does."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_UPGRADE)
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    writer.write(auth_frame(token))
    return reader, writer


async def stalled_client(host: str, port: int, token: str) -> socket.socket:
    """A socket that authenticates and then reads nothing, with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(sock, _UPGRADE)
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1)  # byte by byte: leave the frames unread
    assert response.startswith(b"HTTP/1.1 101")
    await loop.sock_sendall(sock, auth_frame(token))
    return sock


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame (servers never mask): its opcode and payload."""
    head = await reader.readexactly(2)
    size = head[1] & 0x7F
    if size >= 126:
        size = int.from_bytes(await reader.readexactly(2 if size == 126 else 8), "big")
    return head[0] & 0x0F, await reader.readexactly(size)
