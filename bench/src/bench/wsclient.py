"""One client WebSocket as an asyncio Protocol: the benches' lean client transport.

Every frame is handled inside `data_received`, with no task, queue or future per frame:
that is what keeps a load generator holding thousands of sockets cheaper than the servers it
measures. It does the upgrade (`wsframes`), answers pings with pongs, echoes the server's
close frame and closes the transport, and hands the rest to a subclass's hooks: `opened`,
`text_received`, `close_received` and `failed`. Stalling a reader is the transport's own
`pause_reading`: the bytes stay in the kernel, as with a client that stopped reading.
Deliberately not here: what a payload means, timers, reconnecting (the subclass decides).
"""

from __future__ import annotations

import asyncio
from typing import cast

from bench.wsframes import (
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameParser,
    HandshakeError,
    client_frame,
    close_code,
    close_frame,
    new_key,
    upgrade_end,
    upgrade_request,
)


class WebSocketClient(asyncio.Protocol):
    def __init__(self, host: str, path: str) -> None:
        self._key = new_key()
        self._request = upgrade_request(host, path, self._key)
        self._head = bytearray()  # the upgrade answer, until it is complete
        self._parser: FrameParser | None = None
        self._closing = False  # a close frame was sent: nothing more may be
        self._ended = False  # a close frame was received, or the socket failed
        self.transport: asyncio.Transport | None = None

    # -- the hooks -----------------------------------------------------------------------

    def opened(self) -> None:
        """The server accepted the upgrade; frames may be sent."""

    def text_received(self, payload: bytes) -> None:
        """A text message, UTF-8 bytes as they came."""

    def close_received(self, code: int) -> None:
        """The server's close frame; it has been answered and the transport is closing."""

    def failed(self, error: Exception) -> None:
        """The upgrade was refused or the server sent bytes that are no frame; closing."""

    # -- sending -------------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        if self._writable():
            assert self.transport is not None
            self.transport.write(client_frame(OP_TEXT, payload))

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Start the close handshake: the server's answer comes to `close_received`."""
        if self._writable():
            assert self.transport is not None
            self._closing = True
            self.transport.write(close_frame(code))

    def _writable(self) -> bool:
        return not self._closing and self.transport is not None and not self.transport.is_closing()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self._head += data
            try:
                start = upgrade_end(self._head, self._key)
            except HandshakeError as error:
                self._fail(error)
                return
            if start < 0:
                return
            data = bytes(self._head[start:])
            self._head.clear()
            self._parser = FrameParser(self._frame_received)
            self.opened()
        try:
            self._parser.feed(data)
        except FrameError as error:
            self._fail(error)

    def _frame_received(self, opcode: int, payload: bytes) -> None:
        if self._ended:  # what follows a close frame is not the server's any more
            return
        if opcode == OP_TEXT:
            self.text_received(payload)
        elif opcode == OP_PING:
            if self._writable():
                assert self.transport is not None
                self.transport.write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self._ended = True
            code = close_code(payload)
            # Echo it (RFC 6455 5.5.1) and let go; the server closes the TCP connection too.
            self.close(CLOSE_NORMAL if code == CLOSE_NO_STATUS else code)
            if self.transport is not None:
                self.transport.close()
            self.close_received(code)

    def _fail(self, error: Exception) -> None:
        self._ended = True
        if self.transport is not None:
            self.transport.close()
        self.failed(error)
