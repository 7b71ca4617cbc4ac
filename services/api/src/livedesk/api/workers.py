"""`livedesk api --workers N`: N API processes on one port, started and stopped together.

One API process is one event loop on one core, so its writes top out at one core's worth
of CPU. N processes each bind the port with SO_REUSEPORT and the kernel spreads connections
among them. Each worker is a whole `livedesk api` (its own pools, relay, broker connection):
the relay already runs as several replicas (each account claimed by one), so nothing else is
shared.

The supervisor serves nothing. It checks that the port is free before it starts anyone (one
line and status 2 if not, rather than one per worker). The first SIGTERM or SIGINT to it is
passed to every worker as SIGTERM, and it exits 0 once they have drained; a second one kills
them and exits at once (`lifecycle`'s codes). If a worker dies, the others are stopped and
the supervisor exits with that worker's status, so a process manager sees one service that
failed rather than one running at partial strength.
Not here: restarting workers (the process manager restarts the whole service).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from livedesk.shared.lifecycle import CannotListen, bind, exit_now, say

# How often the supervisor looks at its workers; only the time to notice a death.
POLL_S = 0.2
# A worker that has not stopped this long after SIGTERM is killed.
STOP_GRACE_S = 20.0


def supervise(host: str, port: int, workers: int) -> int:
    """Run `workers` worker processes until a signal or a worker's death; the exit status."""
    try:
        bind(host, port).close()
    except CannotListen as error:
        say("api", str(error))
        return error.status
    command = [sys.executable, "-m", "livedesk.cli.main", "api", "--host", host]
    command += ["--port", str(port), "--reuse-port"]
    children = [subprocess.Popen(command) for _ in range(workers)]
    signalled: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if signalled:  # the second: no more waiting for the drain
            for child in children:
                child.kill()
            exit_now("api", signum)
        signalled.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not signalled and all(child.poll() is None for child in children):
            time.sleep(POLL_S)
        status = _stop_all(children)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if signalled else status


def _stop_all(children: list[subprocess.Popen[bytes]]) -> int:
    """SIGTERM every live worker, wait, kill stragglers; the first failure's exit status."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for child in children:
        if child.returncode:
            # A worker killed by signal n has returncode -n; a shell would report 128+n.
            return child.returncode if child.returncode > 0 else 128 - child.returncode
    return 0
