"""`livedesk tail`: an account's live events on stdout, one JSON object a line, for operators
and scripts (`livedesk tail ... | jq`).

It is a `livedesk_client.Client` like any application's: it reconnects, resumes with no gap
and no duplicate, and follows drain hints. Connection changes go to stderr, so stdout holds
events only. It stops with status 0 on the first SIGINT or SIGTERM, and with one line on
stderr and status 1 when it cannot go on: the token is of another account than `--account`
(checked against `ready`), the gateway refuses the token, or the token has expired (a token
given on the command line cannot be renewed).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TextIO

from livedesk.shared.lifecycle import CommandError, Shutdown, run_service
from livedesk_client import Client, Frame, Refused, State, expires_at

DEFAULT_URL = "ws://127.0.0.1:8200/ws"


class Tail:
    """Writes each event to `out`; notes why it must stop, if it must."""

    def __init__(self, account_id: int, token: str, out: TextIO, err: TextIO) -> None:
        self.account_id, self.token = account_id, token
        self.out, self.err = out, err
        self.stop = asyncio.Event()
        self.failure: str | None = None

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.stop.set()

    def provide_token(self) -> str:
        expiry = expires_at(self.token)
        if expiry is not None and expiry <= time.time():
            self.fail("the token has expired; run again with a fresh one")
        return self.token

    def ready(self, frame: Frame) -> None:
        if frame.get("account_id") != self.account_id:
            self.fail(f"the token is for account {frame.get('account_id')}, not {self.account_id}")

    def event(self, frame: Frame) -> None:
        if self.failure is not None:
            return
        try:
            self.out.write(json.dumps(frame, separators=(",", ":")) + "\n")
            self.out.flush()
        except BrokenPipeError:  # the reader is gone (`| head`): nothing left to do
            self.stop.set()

    def state(self, state: State, delay_s: float | None) -> None:
        if state is State.RECONNECTING and delay_s is not None:
            self.err.write(f"livedesk tail: connection lost; reconnecting in {delay_s:.1f} s\n")
        elif state is State.OPEN:
            self.err.write("livedesk tail: connected\n")
        self.err.flush()


async def tail(
    shutdown: Shutdown, account_id: int, token: str, urls: list[str], start: int | None
) -> None:
    printer = Tail(account_id, token, sys.stdout, sys.stderr)
    client = Client(urls, printer.provide_token, resume_from=start, on_state=printer.state)
    client.on("ready", printer.ready)
    client.on("*", printer.event)
    shutdown.serving(printer.stop.set)
    async with client:
        closed = asyncio.create_task(client.wait_closed())
        stopped = asyncio.create_task(printer.stop.wait())
        await asyncio.wait({closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if closed.done() and (error := closed.exception()) is not None:
            if not isinstance(error, Refused):
                raise error
            printer.fail(f"the gateway refused the token ({error})")
        closed.cancel()
    if printer.failure is not None:
        raise CommandError(printer.failure)


def run(account_id: int, token: str, urls: list[str] | None, start: int | None) -> int:
    async def main(shutdown: Shutdown) -> None:
        await tail(shutdown, account_id, token, urls or [DEFAULT_URL], start)

    return run_service("tail", main)
