"""How every `livedesk` command starts, stops and fails: signals, start-up failures, exit codes.

Each command's `main` hands its coroutine to `run_service` (api, gateway, presence,
standalone) or `run_once` (migrate, bootstrap), and gets back the process's exit status:

    0    done, or stopped by the first SIGTERM or SIGINT
    1    stopped by an unexpected error (its traceback is logged)
    2    cannot listen on the address given (taken, or not this host's): fix the command line
    69   EX_UNAVAILABLE: a dependency (database, broker, the API's token key) did not answer
         within its start timeout
    128+n  stopped at once by signal n: a second signal during a drain, or any signal to a
           one-shot command (130 for SIGINT, 143 for SIGTERM)

A service's first signal cancels its start-up at once (connecting, waiting for keys: nothing
to drain yet); once it has called `Shutdown.serving(drain)`, the first signal calls `drain`
instead, and the service ends when its drain does. A second signal ends the process at once,
without cleanup: a drain that hangs must never hold a process that was told twice.

A start-up step that needs something outside the process goes through `reach`, the listening
address through `bind`; their failures end the command with one line on stderr, no
traceback: `livedesk api: cannot listen on 127.0.0.1:8000: address already in use`.

Not here: what a drain does (each service's main), how a dependency is retried (its client).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Final, NoReturn, TypeVar

from yarl import URL

from livedesk.shared.errors import LivedeskError

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_CANNOT_LISTEN: Final = 2
EXIT_UNAVAILABLE: Final = 69  # sysexits.h EX_UNAVAILABLE
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

T = TypeVar("T")
log = logging.getLogger(__name__)


class CommandError(LivedeskError):
    """Ends a command with `message` as its one line on stderr and `status` as its exit code."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


class CannotListen(CommandError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}", EXIT_CANNOT_LISTEN)


class Unavailable(CommandError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNAVAILABLE)


class Shutdown:
    """What a SIGTERM or SIGINT does to a service: cancel its start-up, drain, or exit now."""

    def __init__(self, command: str, startup: asyncio.Task[None]) -> None:
        self._command, self._startup = command, startup
        self._drain: Callable[[], object] | None = None
        self.requested = False

    def serving(self, drain: Callable[[], object]) -> None:
        """From now on the first signal calls `drain`, which must make the service return."""
        self._drain = drain
        if self.requested:  # the signal came while start-up was finishing
            drain()

    def signalled(self, signum: int) -> None:
        if self.requested:
            exit_now(self._command, signum)
        self.requested = True
        log.info("%s received; stopping", signal.Signals(signum).name)
        if self._drain is None:
            self._startup.cancel()
        else:
            self._drain()


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket bound to host:port, not yet listening (the server listens when it serves).

    Bound first thing, so that a taken port ends the command before it waits on anything;
    not listening until then, so that clients are refused rather than queued meanwhile.
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:  # the workers of `livedesk api --workers N` share the port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
    except OSError as error:
        raise CannotListen(host, port, _reason(error)) from error
    sock.setblocking(False)
    return sock


async def reach(what: str, step: Awaitable[T], timeout_s: float) -> T:
    """Await a start-up step that needs `what`; give up with `Unavailable` after `timeout_s`.

    Any error of the step counts as `what` being out of reach: the step is a connection or
    a fetch, and whatever stopped it, the answer is the same line and the same exit code.
    """
    timeout = asyncio.timeout(timeout_s)
    try:
        async with timeout:
            return await step
    except Exception as error:
        log.debug("start-up step failed", exc_info=True)
        # A step that retries gives up by itself near the same time: the same words then.
        late = asyncio.get_running_loop().time() >= (timeout.when() or 0.0)
        if late or isinstance(error, TimeoutError):
            raise Unavailable(f"cannot reach {what} within {timeout_s:g} s") from error
        raise Unavailable(f"cannot reach {what}: {_reason(error)}") from error


@asynccontextmanager
async def reaching(
    what: str, context: AbstractAsyncContextManager[T], timeout_s: float
) -> AsyncIterator[T]:
    """`context` entered through `reach` (a connection, say); exited as it would be alone."""
    async with AsyncExitStack() as stack:
        yield await reach(what, stack.enter_async_context(context), timeout_s)


def redact(url: str) -> str:
    """`url` without its password, to name a dependency in a message."""
    parsed = URL(url)
    return url if parsed.password is None else str(parsed.with_password(None))


def run_service(
    command: str,
    main: Callable[[Shutdown], Coroutine[Any, Any, None]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
) -> int:
    """Run `main(shutdown)` until it returns; its exit status (see the table above)."""

    async def supervised() -> None:
        task = asyncio.current_task()
        assert task is not None
        shutdown = Shutdown(command, task)
        loop = asyncio.get_running_loop()
        for signum in signals:
            loop.add_signal_handler(signum, shutdown.signalled, signum)
        try:
            await main(shutdown)
        except asyncio.CancelledError:
            if not shutdown.requested:
                raise  # nobody asked to stop: not ours to swallow
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    return _run(command, supervised(), loop_factory)


def run_once(command: str, step: Coroutine[Any, Any, None]) -> int:
    """Run a one-shot command's `step`; any signal ends it at once with 128+signal."""

    async def interruptible() -> None:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, exit_now, command, signum)
        await step

    return _run(command, interruptible(), None)


def _run(
    command: str,
    coroutine: Coroutine[Any, Any, None],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
) -> int:
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(coroutine)
    except Exception as error:
        if (failure := _command_error(error)) is None:
            log.error("stopped on an error", exc_info=error)
            failure = CommandError(f"stopped on an error: {_reason(error)}")
        say(command, str(failure))
        return failure.status
    return EXIT_OK


def say(command: str, line: str) -> None:
    """The command's last word on stderr, in the form every command uses."""
    sys.stderr.write(f"livedesk {command}: {line}\n")
    sys.stderr.flush()


def exit_now(command: str, signum: int) -> NoReturn:
    """End the process at once with 128+signum: no drain, no cleanup, the kernel closes all."""
    say(command, f"{signal.Signals(signum).name} received; stopping at once")
    os._exit(128 + signum)


def _command_error(error: BaseException) -> CommandError | None:
    """The `CommandError` behind `error`, looking inside task groups' exception groups."""
    if isinstance(error, CommandError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := _command_error(inner)) is not None:
                return found
    return None


def _reason(error: BaseException) -> str:
    """An error in words: the OS's text when there is one ("address already in use")."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return text[:1].lower() + text[1:]
