"""The tests' reaper (tests/support/processes.py): what a test started does not outlive it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.processes import descendants, reaping


def running(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def wait_for(condition: Callable[[], object], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_what_was_started_inside_is_killed_with_its_children() -> None:
    with reaping():
        # A session of its own, as the helpers start services, and a child of its own.
        parent = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
        assert wait_for(lambda: descendants(parent.pid))
        (child,) = descendants(parent.pid)
    assert parent.wait(10) == -signal.SIGKILL
    assert wait_for(lambda: not running(child))


def test_what_ran_before_is_left_alone() -> None:
    before = subprocess.Popen(["sleep", "60"])
    try:
        with reaping():
            pass
        assert before.poll() is None
    finally:
        before.kill()
        before.wait()
