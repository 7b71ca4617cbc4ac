"""`livedesk api --workers N`: N API processes on one port, started and stopped together.

One API process is one event loop on one core; the message-write path measured ~1.3-1.5 ms
of CPU per write, so one process tops out near one core's worth. N processes each bind the
port with SO_REUSEPORT and the kernel spreads connections among them. Each worker is a whole
`livedesk api` (its own pools, relay, broker connection): the relay already runs as several
replicas (claims with FOR UPDATE SKIP LOCKED), so nothing else is shared.

The supervisor serves nothing. SIGTERM or SIGINT to it is passed to every worker; if a
worker dies, the others are stopped and the supervisor exits with that worker's status, so a
process manager sees one service that failed rather than one running at partial strength.
Not here: restarting workers (the process manager restarts the whole service).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from types import FrameType

# How often the supervisor looks at its workers; only the time to notice a death.
POLL_S = 0.2
# A worker that has not stopped this long after SIGTERM is killed.
STOP_GRACE_S = 20.0


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other workers may bind on the same address too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def supervise(host: str, port: int, workers: int) -> int:
    """Run `workers` worker processes until a signal or a worker's death; their status."""
    command = [sys.executable, "-m", "livedesk.cli.main", "api", "--host", host]
    command += ["--port", str(port), "--reuse-port"]
    children = [subprocess.Popen(command) for _ in range(workers)]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(POLL_S)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        status = _stop_all(children)
    return 0 if stopping else status


def _stop_all(children: list[subprocess.Popen[bytes]]) -> int:
    """SIGTERM every live worker, wait, kill stragglers; the first non-zero status."""
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
    return next((c.returncode for c in children if c.returncode), 0)
