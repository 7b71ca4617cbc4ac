"""The peer users would pick: python-socketio's AsyncServer with AsyncAioPikaManager.

    python -m bench.fanout.peer --port P --amqp-url URL --channel C     (one node)

As its documentation shows it: an `AsyncServer(async_mode="asgi", client_manager=
AsyncAioPikaManager(url, channel=...))` wrapped in `socketio.ASGIApp` and served by uvicorn
with its defaults (uvloop and its default WebSocket implementation, as installed). A client
connects with `{"account_id": N}` in the connect auth payload and joins room `acct.N`;
events come from another process through a write-only manager (`Emitter`), which the
manager fans out to every node over a fanout exchange named after the channel.
Not tuned beyond its docs and not hobbled: no custom JSON, no changed prefetch, no
pings turned off. uvicorn's log level is `warning` so that per-socket lines do not cost it.
Deliberately not here: tokens (the peer trusts the account id it is given).
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn


def room(account_id: int) -> str:
    return f"acct.{account_id}"


def create_app(amqp_url: str, channel: str) -> Any:
    manager = socketio.AsyncAioPikaManager(amqp_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
        if not isinstance(auth, dict) or not isinstance(auth.get("account_id"), int):
            return False
        await sio.enter_room(sid, room(auth["account_id"]))
        return True

    sio.on("connect", connect)
    return socketio.ASGIApp(sio)


class Emitter:
    """The publisher's side: a write-only manager, emitting to one account's room."""

    def __init__(self, amqp_url: str, channel: str) -> None:
        self._manager = socketio.AsyncAioPikaManager(amqp_url, channel=channel, write_only=True)

    async def emit(self, account_id: int, payload: dict[str, Any]) -> None:
        await self._manager.emit("new_message", payload, room=room(account_id), namespace="/")


def main() -> None:
    parser = argparse.ArgumentParser(description="one python-socketio node")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--channel", required=True)
    args = parser.parse_args()
    from bench.fanout.procs import raise_fd_limit

    raise_fd_limit()
    uvicorn.run(
        create_app(args.amqp_url, args.channel),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
