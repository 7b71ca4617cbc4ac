"""Processes the bench starts: each in its own process group, all killed at the end.

`ProcessGroup` starts children with `start_new_session`, so SIGTERM/SIGKILL to the group
reaches whatever they forked too, and its `close()` (called from `finally` or `async with`)
terminates every one, waits briefly, then kills. `cpu_seconds` and `rss_bytes` read
/proc/<pid>/stat and /proc/<pid>/statm: the figures the tables are made of.
Deliberately not here: what the processes are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")
# The repository (this file is bench/src/bench/fanout/procs.py): the processes' working
# directory and where results go. The bench runs from its checkout, installed editable.
ROOT: Final = Path(__file__).resolve().parents[4]
# Raw results and the processes' logs of every bench (ignored by git).
RESULTS: Final = ROOT / "bench" / "results"


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (10,000 sockets need it); return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def cpu_share(pids: list[int], seconds: float) -> float:
    """Cores the processes keep busy, summed, over the next `seconds`."""
    before = sum(cpu_seconds(pid) for pid in pids)
    await asyncio.sleep(seconds)
    return (sum(cpu_seconds(pid) for pid in pids) - before) / seconds


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def tcp_send_queue(local_port: int, remote_port: int) -> int | None:
    """Bytes in the kernel send queue of the loopback TCP socket local_port -> remote_port."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == local_port and int(remote, 16) == remote_port:
            return int(fields[4].split(":")[0], 16)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_port(port: int, process: asyncio.subprocess.Process, timeout_s: float) -> None:
    """Until something accepts on 127.0.0.1:port; fail early if `process` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


class ProcessGroup:
    """Children started here die with it: terminate, a grace period, then kill."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._children: list[asyncio.subprocess.Process] = []

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        pipes: bool = False,
    ) -> asyncio.subprocess.Process:
        """Start `argv`; stderr (and stdout unless `pipes`) go to <log_dir>/<name>.log."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log = (self._log_dir / f"{name}.log").open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if pipes else log,
                stderr=log,
                start_new_session=True,
                limit=64 * 1024 * 1024 if pipes else 2**16,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self._children.append(process)
        return process

    async def stop(self, process: asyncio.subprocess.Process, grace_s: float = 5.0) -> None:
        """Terminate one child's whole group; kill it if it lingers past `grace_s`."""
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # anything it forked and left behind
        if process in self._children:
            self._children.remove(process)

    async def close(self) -> None:
        children, self._children = self._children, []
        await asyncio.gather(*(self.stop(child) for child in reversed(children)))

    async def __aenter__(self) -> ProcessGroup:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
