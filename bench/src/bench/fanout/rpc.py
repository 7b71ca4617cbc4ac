"""JSON lines between the driver and its worker processes (load generator, publisher).

The driver writes one request object per line on the worker's stdin and reads one reply per
line from its stdout; the worker's logs go to stderr. A worker serves requests one at a time,
in order, so a reply always answers the last request. Replies with `"error"` raise
`WorkerError` on the driver's side.
Deliberately not here: what the requests mean.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class WorkerError(RuntimeError):
    pass


class Worker:
    """The driver's handle on one worker process."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.name, self.process = name, process
        self._stdin, self._stdout = process.stdin, process.stdout

    async def call(self, op: str, timeout_s: float = 600.0, **args: Any) -> dict[str, Any]:
        self._stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self._stdin.drain()
        line = await asyncio.wait_for(self._stdout.readline(), timeout_s)
        if not line:
            raise WorkerError(f"{self.name} exited (code {self.process.returncode}) during {op}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"{self.name} {op}: {reply['error']}")
        return reply


async def serve(handlers: dict[str, Handler]) -> None:
    """The worker's side: answer requests from stdin until `close` or end of input."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = await handlers[op](request)
        except Exception as error:
            traceback.print_exc()
            reply = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if op == "close":
            return
