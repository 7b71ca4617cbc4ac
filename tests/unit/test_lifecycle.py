"""The start-up failures of `livedesk.shared.lifecycle`: which words, which exit status.

The signals and the processes are tested on real processes in tests/system/test_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from livedesk.shared.lifecycle import (
    EXIT_CANNOT_LISTEN,
    EXIT_UNAVAILABLE,
    CannotListen,
    Unavailable,
    _command_error,
    bind,
    reach,
    redact,
)


def test_a_taken_port_cannot_be_bound() -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        with pytest.raises(CannotListen) as refused:
            bind("127.0.0.1", port)
    assert str(refused.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"
    assert refused.value.status == EXIT_CANNOT_LISTEN


def test_a_bound_socket_is_not_listening_yet() -> None:
    with bind("127.0.0.1", 0) as sock, pytest.raises(ConnectionRefusedError):
        socket.create_connection(sock.getsockname(), timeout=1).close()


async def test_a_step_past_its_timeout_is_unavailable() -> None:
    with pytest.raises(Unavailable) as given_up:
        await reach("the broker at amqp://b", asyncio.sleep(10), 0.05)
    assert str(given_up.value) == "cannot reach the broker at amqp://b within 0.05 s"
    assert given_up.value.status == EXIT_UNAVAILABLE


async def test_a_step_that_fails_at_once_says_why() -> None:
    async def missing() -> None:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(Unavailable, match=r"^cannot reach the key /k: no such file or directory$"):
        await reach("the key /k", missing(), 5)


async def test_a_step_that_gives_up_by_itself_at_the_deadline_reads_as_a_timeout() -> None:
    async def retries_until_the_deadline() -> None:
        time.sleep(0.1)  # noqa: ASYNC251 - the loop stalls past the deadline, as under load
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(Unavailable, match=r"^cannot reach the broker within 0.05 s$"):
        await reach("the broker", retries_until_the_deadline(), 0.05)


def test_a_failure_inside_task_groups_is_found() -> None:
    failure = Unavailable("cannot reach the API's token key")
    nested = ExceptionGroup("outer", [ValueError("x"), ExceptionGroup("inner", [failure])])
    assert _command_error(nested) is failure
    assert _command_error(ExceptionGroup("other", [ValueError("x")])) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:secret@broker:5672/vhost", "amqp://guest@broker:5672/vhost"),
        ("postgresql+asyncpg://postgres@db/livedesk", "postgresql+asyncpg://postgres@db/livedesk"),
        ("sqlite+aiosqlite:///data/livedesk.db", "sqlite+aiosqlite:///data/livedesk.db"),
    ],
)
def test_urls_are_named_without_their_password(url: str, shown: str) -> None:
    assert redact(url) == shown
