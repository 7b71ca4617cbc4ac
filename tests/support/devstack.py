"""`livedesk dev` as a test's stack: api, presence and two gateways as real processes behind
its proxy, on the run's vhost and a database of the test's own.

Its output goes to a file, read on demand (a pipe nobody reads fills and stalls the stack).
`gateway_pid` finds a gateway by node id (`dev-1`, `dev-2`), so that a test can SIGKILL
the one a page's socket is on; `livedesk dev` restarts it, as a supervisor would.
Not here: what a test does with the stack.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import httpx
from sqlalchemy.engine import make_url

from tests.support.api import livedesk_env
from tests.support.processes import descendants

READY: Final = re.compile(r"inbox (http://\S+)\s+sign in as (\S+), password (\S+)")
# The proxy on PORT, the api on PORT+1, presence PORT+2, the gateways PORT+3 and PORT+4.
PORTS_USED: Final = 5


@dataclass
class DevStack:
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    base: str  # the proxy: the page, REST and /ws on one origin
    database_url: str  # SQLAlchemy's asyncpg form, for writing to the stack's database

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float = 90) -> re.Match[str]:
        """The first line of the stack's output matching `pattern` (already printed or not)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found := pattern.search(self.log()):
                return found
            assert self.process.poll() is None, "livedesk dev exited:\n" + self.log()[-4000:]
            time.sleep(0.1)
        raise AssertionError(f"no {pattern.pattern!r} in:\n" + self.log()[-4000:])

    def wait_gateways_ready(self, timeout_s: float) -> None:
        """Until both gateways answer /readyz (after a restart, say)."""
        port = int(self.base.rsplit(":", 1)[1])
        deadline = time.monotonic() + timeout_s
        for gateway in (port + 3, port + 4):
            while not _ready(f"http://127.0.0.1:{gateway}"):
                assert time.monotonic() < deadline, "a gateway did not come back"
                time.sleep(0.1)

    def gateway_pid(self, node_id: str) -> int:
        """The running gateway process whose node id is `node_id`."""
        for pid in descendants(self.process.pid):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"gateway" in argv and node_id.encode() in argv:
                    return pid
        raise AssertionError(f"no gateway {node_id} runs:\n" + self.log()[-2000:])


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _free_run_of_ports() -> int:
    """A port whose next few are free too (the stack takes PORT .. PORT+4), below the
    kernel's ephemeral range (32768 up): there, another process's outgoing connection cannot
    take one between this check and the stack's start."""
    import socket

    while True:
        port = random.randrange(20_000, 32_000 - PORTS_USED)
        with contextlib.ExitStack() as probes:
            try:
                for offset in range(PORTS_USED):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port


@contextmanager
def dev_stack(
    amqp_url: str, postgres_url: str, data_dir: Path, env: dict[str, str] | None = None
) -> Iterator[DevStack]:
    """`livedesk dev` on a database it makes (dropped afterwards), ready to serve."""
    name = f"livedesk_dev_t_{uuid.uuid4().hex[:8]}"
    server = make_url(postgres_url)
    database = server.set(drivername="postgresql", database=name)
    port = _free_run_of_ports()
    output = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "livedesk.cli.main", "dev", "--port", str(port),
         "--amqp-url", amqp_url, "--data-dir", str(data_dir),
         "--database-url", database.render_as_string(hide_password=False)],
        env={**livedesk_env(env or {}), "NO_COLOR": "1"},
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    stack = DevStack(
        process,
        output,
        f"http://127.0.0.1:{port}",
        database.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
    )
    try:
        stack.wait_for(READY)
        yield stack
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        output.close()
        subprocess.run(
            ["psql", "-h", database.host or "127.0.0.1", "-U", database.username or "postgres",
             "-d", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=False, capture_output=True,
        )  # fmt: skip
