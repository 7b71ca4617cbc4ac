"""What goes wrong for one socket stays with that socket: bad frames, failures, odd resumes."""

from __future__ import annotations

from livedesk.gateway import protocol
from tests.support.gateway import Keys, until
from tests.unit.gateway.harness import running


async def test_a_frame_nested_thousands_deep_gets_an_error_and_the_socket_stays(
    keys: Keys,
) -> None:
    async with running(keys) as gw:
        socket = await gw.ready(1)
        nested = b"[" * 5_000 + b"]" * 5_000  # 10 KB: well under the frame size limit
        socket.feed(b'{"type":"ping","ref":' + nested + b"}")
        socket.feed(nested)
        socket.feed({"type": "ping", "ref": "after"})
        await until(lambda: socket.of_type("pong") or socket.closed)
        assert [e["code"] for e in socket.of_type("error")] == [protocol.ERR_INVALID] * 2
        assert socket.of_type("pong") == [{"type": "pong", "offset": 0, "ref": "after"}]
        assert socket.closed is None


async def test_nested_frames_again_and_again_close_with_4429(keys: Keys) -> None:
    async with running(keys) as gw:
        socket = await gw.ready(1)
        for _ in range(50):
            socket.feed(b"[" * 5_000 + b"]" * 5_000)
        await until(lambda: socket.closed)
        assert socket.closed == (protocol.CLOSE_RATE_LIMITED, "too many bad frames")
