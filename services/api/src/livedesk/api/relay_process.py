"""The relay in a process of its own, started and owned by `livedesk api`.

Why a process: on the API's event loop every await of a relay round (BEGIN, claim and
read, publish, COMMIT) waited behind the requests ready at that moment. Under write load
that was a few ms per await, tens of ms in bursts, and those bursts were the p99 of
commit-to-publish. The relay's own loop runs nothing else, and the kernel runs a process
that mostly sleeps as soon as it is woken. A thread was tried: the GIL made it worse.

The two processes talk over a socket pair, in lines of JSON:
- to the child: first the parent's `Settings` (so both run with the same, whatever the
  child's environment says), then, after each commit, the accounts written: the relay's
  wake-up, as `Relay.notify` is in one process;
- to the parent: each round's commit-to-confirm latencies, and the broker's state when it
  changes. The parent's `RelayStatus` turns them into /metrics and /readyz.
The parent owns the child's life. The child runs in a session of its own, so a terminal's
^C reaches only the parent, which then stops in order; the child exits when its end of the
socket reads EOF, which is also what the parent's death looks like, SIGKILL included. If
the child dies, `RelayProcess.run` raises and the API process stops, as it did when an
in-process relay failed: no API serves without a relay.
Not here: the relay itself (`relay`), the status it reports to (`relay_status`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys

from livedesk.api.db import make_engine
from livedesk.api.deferred_bus import DeferredBus
from livedesk.api.relay import Relay
from livedesk.api.relay_status import RelayStatus
from livedesk.shared.settings import Settings

log = logging.getLogger(__name__)

# A line carries one round's latencies (relay_batch_size of them); room for any batch.
LINE_LIMIT = 1 << 24
# After the parent lets go, the child finishes in well under this; then it is killed.
STOP_GRACE_S = 10.0


class RelayDied(RuntimeError):
    pass


class RelayProcess:
    """The API process's handle on its relay child: `notify` after commits, `run` beside
    the server."""

    def __init__(self, settings: Settings, status: RelayStatus) -> None:
        self._settings, self._status = settings, status
        self._writer: asyncio.StreamWriter | None = None
        # The child's, while it runs: for operators' logs and for tests.
        self.pid: int | None = None
        # Accounts committed before the child was there to tell.
        self._pending: set[int] = set()

    def notify(self, accounts: set[int]) -> None:
        if self._writer is None:
            self._pending |= accounts
            return
        # At once, one line per commit: deferred to the loop's next turn, the wake-up
        # would wait behind every request ready in this one, which is the very delay the
        # child exists to avoid. A send on a local socket costs microseconds.
        self._writer.write(json.dumps(sorted(accounts)).encode() + b"\n")

    async def run(self) -> None:
        """Start the child and serve it until cancelled; raises `RelayDied` if it exits."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "livedesk.api.relay_process",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = process.pid
        log.info("relay process %d started", process.pid)
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=LINE_LIMIT)
        try:
            writer.write(self._settings.model_dump_json().encode() + b"\n")
            self._writer = writer
            if self._pending:  # what was committed while the child started
                self.notify(self._pending)
                self._pending = set()
            async for line in reader:
                if not line.endswith(b"\n"):
                    break  # cut short by the child's death
                self._report(json.loads(line))
            raise RelayDied(f"the relay process exited with status {await process.wait()}")
        finally:
            self._writer, self.pid = None, None
            self._status.broker_reached(False)
            writer.close()
            await _reap(process)

    def _report(self, report: dict[str, object]) -> None:
        match report:
            case {"published": list(latencies)}:
                self._status.published([float(latency) for latency in latencies])
            case {"broker": bool(ok)}:
                self._status.broker_reached(ok)
            case _:
                raise RelayDied(f"the relay process sent {report!r}")


async def _reap(process: asyncio.subprocess.Process) -> None:
    try:
        async with asyncio.timeout(STOP_GRACE_S):
            await process.wait()
    except TimeoutError:
        log.warning("the relay process did not stop in %s s; killing it", STOP_GRACE_S)
        process.kill()
        await process.wait()


class _ParentReporter:
    """The child's `RelayObserver`: each outcome becomes a line to the parent."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._broker_ok: bool | None = None

    def published(self, latencies_s: list[float]) -> None:
        self._send({"published": [round(latency, 6) for latency in latencies_s]})

    def broker_reached(self, ok: bool) -> None:
        if ok != self._broker_ok:  # every round ends with one; the parent wants changes
            self._broker_ok = ok
            self._send({"broker": ok})

    def _send(self, report: dict[str, object]) -> None:
        self._writer.write(json.dumps(report).encode() + b"\n")


async def serve_relay(channel: socket.socket) -> None:
    """The child: run a relay as the parent's settings say until the parent lets go."""
    reader, writer = await asyncio.open_unix_connection(sock=channel, limit=LINE_LIMIT)
    first = await reader.readline()
    if not first:
        return  # the parent was gone before it said anything
    settings = Settings.model_validate_json(first)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    engine = make_engine(settings.database_url, pool_size=1)
    bus = DeferredBus()
    relay = Relay(engine, bus, settings.api, _ParentReporter(writer))
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    bus.connect_forever(
                        settings.amqp_url, settings.bus, name=f"livedesk-relay-{settings.node_id}"
                    )
                ),
                group.create_task(relay.run()),
            ]
            async for line in reader:
                relay.notify(set(json.loads(line)))
            for task in tasks:
                task.cancel()
    finally:
        writer.close()
        await engine.dispose()


def main() -> None:
    import uvloop  # imported here: only the child's loop wants it

    uvloop.run(serve_relay(socket.socket(fileno=int(sys.argv[1]))))


if __name__ == "__main__":
    main()
