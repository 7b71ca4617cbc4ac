"""The development stack's child processes: started, their output prefixed, restarted when a
gateway dies, and stopped together.

Each child runs in a session of its own, so a Ctrl-C in the terminal reaches `livedesk dev`
alone, which then sends each child one SIGTERM: a second signal would make a service exit
without draining. On Linux a child is also killed if `livedesk dev` itself is killed, so no
orphan keeps a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

STOP_TIMEOUT_S: Final = 15.0
RESTART_DELAY_S: Final = 1.0
COLOURS: Final = ("36", "35", "33", "32", "34", "31")  # cyan, magenta, yellow, green, ...
PR_SET_PDEATHSIG: Final = 1


@dataclass(frozen=True)
class Service:
    name: str
    argv: Sequence[str]
    environment: Mapping[str, str]
    restart: bool = False  # gateways: stateless, and the topology expects two


class Output:
    """Lines from the children, each behind its service's name, coloured on a terminal."""

    def __init__(self, stream: TextIO, names: Sequence[str]) -> None:
        colour = stream.isatty() and "NO_COLOR" not in os.environ
        width = max(len(name) for name in [*names, "dev"])
        self._stream = stream
        self._prefixes = {
            name: (f"\x1b[{code}m{name:<{width}} |\x1b[0m " if colour else f"{name:<{width}} | ")
            for name, code in zip(["dev", *names], itertools.cycle(COLOURS))
        }

    def line(self, name: str, text: str) -> None:
        self._stream.write(self._prefixes[name] + text.rstrip("\n") + "\n")
        self._stream.flush()


def _die_with_parent() -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Supervisor:
    def __init__(self, services: Sequence[Service], output: Output) -> None:
        self._services, self._output = services, output
        self._running: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
        self._started = asyncio.Condition()  # notified whenever a child process starts

    async def start(self, service: Service) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *service.argv,
            env={**os.environ, **service.environment},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        async with self._started:
            self._running[service.name] = process
            self._started.notify_all()
        return process

    async def replace(self, name: str) -> None:
        """SIGTERM to a service that is restarted when it exits (it drains first); returns
        once its successor has started."""
        old = self._running[name]
        with contextlib.suppress(ProcessLookupError):
            old.send_signal(signal.SIGTERM)
        async with self._started:
            await self._started.wait_for(
                lambda: self._running[name] is not old or self._stopping.is_set()
            )

    async def run(self) -> int:
        """Runs every service until `stop` (or cancellation); 1 when a service that must not
        die did, else 0. Every child has exited when this returns."""
        watchers = [asyncio.create_task(self._watch(service)) for service in self._services]
        try:
            await self._stopping.wait()
        finally:
            self._stopping.set()
            await self._terminate_all()
            results = await asyncio.gather(*watchers, return_exceptions=True)
        return 1 if any(result is not False for result in results) else 0

    def stop(self) -> None:
        self._stopping.set()

    async def _watch(self, service: Service) -> bool:
        """Runs `service`, restarting it if it may be; whether it failed the stack."""
        while True:
            process = await self.start(service)
            assert process.stdout is not None
            async for raw in process.stdout:
                self._output.line(service.name, raw.decode(errors="replace"))
            code = await process.wait()
            if self._stopping.is_set():
                return False
            if not service.restart:
                self._output.line("dev", f"{service.name} exited with {code}: stopping the stack")
                self.stop()
                return True
            self._output.line("dev", f"{service.name} exited with {code}: restarting it")
            await asyncio.sleep(RESTART_DELAY_S)
            if self._stopping.is_set():
                return False

    async def _terminate_all(self) -> None:
        running = [p for p in self._running.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(p.wait() for p in running)), timeout=STOP_TIMEOUT_S
            )
        except TimeoutError:
            for process in running:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await asyncio.gather(*(p.wait() for p in running))
