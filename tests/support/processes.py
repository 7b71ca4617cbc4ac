"""Processes the tests start: `livedesk <command>` in a session of its own, and a reaper.

A process started by `Livedesk` leads a process group of its own, so that it is killed with
whatever it started (the workers of `livedesk api --workers N`) and a terminal's Ctrl-C on
pytest does not reach it. `reaping()` kills every process that became a descendant of the
test run while it was open; the autouse fixtures in tests/conftest.py wrap each test and the
session in it, so a test that fails midway, or a helper that forgets, leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Self


def descendants(pid: int | None = None) -> set[int]:
    """Every live process below `pid` (default: this one), children first."""
    found: set[int] = set()
    pending = [pid or os.getpid()]
    while pending:
        parent = pending.pop()
        with contextlib.suppress(OSError):  # the process ended while we looked
            for task in Path(f"/proc/{parent}/task").iterdir():
                for child in map(int, (task / "children").read_text().split()):
                    if child not in found:
                        found.add(child)
                        pending.append(child)
    return found


@contextlib.contextmanager
def reaping() -> Iterator[None]:
    """Kill (SIGKILL) every process started below this one while the block ran."""
    before = descendants()
    try:
        yield
    finally:
        for pid in descendants() - before:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs (zombies, awaiting their reap, don't)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


class Livedesk:
    """`livedesk <args>` as a real process; its stderr kept for the test to read."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by kill()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "livedesk.cli.main", *self.args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,  # a group of its own: see the module's docstring
        )
        return self

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "not started"
        return self._process

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        """The exit status; a process still running after `timeout_s` fails the test."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"livedesk {' '.join(self.args)} still running after {timeout_s} s:\n"
                + self.stderr()
            ) from None

    def children(self) -> set[int]:
        return descendants(self.process.pid)

    def group_alive(self) -> bool:
        return group_alive(self.process.pid)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def last_line(self) -> str:
        lines = self.stderr().strip().splitlines()
        return lines[-1] if lines else ""

    def kill(self) -> None:
        """SIGKILL the process and everything in its group; reap it."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)
        self._stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.kill()


def wait_until_gone(process: Livedesk, timeout_s: float = 5.0) -> bool:
    """Whether the process's group empties within `timeout_s` (its orphans are reaped by
    init, which takes a moment)."""
    deadline = time.monotonic() + timeout_s
    while process.group_alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
