"""Every `livedesk` command as a real process: it ends when it cannot start, and on signals.

- A taken port ends api (also `--workers 2`), gateway, presence and standalone with status 2
  and one line on stderr, no traceback.
- A dependency out of reach past its start timeout (the broker, the database, the API's
  token key) ends the command with status 69 and one line.
- SIGTERM or SIGINT while a service starts (waiting for the database, the broker or the
  keys) ends it at once with status 0.
- SIGTERM to a running service ends it with status 0 and leaves no process behind; the
  gateway and standalone first send their sockets `reconnect` and close them with 1001.
- A second signal during the drain (held open by a socket or an unfinished request) ends
  the process at once with 128+signal.

Start timeouts are set to 1 s where a test waits for them, and to 30 s where a test shows
that a signal does not wait for them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from signal import SIGINT, SIGTERM, Signals

import httpx
import pytest

from livedesk.shared.lifecycle import EXIT_CANNOT_LISTEN, EXIT_UNAVAILABLE
from livedesk.shared.tokens import ensure_key_pair
from tests.support.api import Deployment, api_deployment, livedesk_env
from tests.support.gateway import until
from tests.support.ports import free_port
from tests.support.processes import Livedesk, wait_until_gone
from tests.support.ws_client import WsClient

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]

# Generous bounds on "at once" and "within the drain window": what a test waits before it
# calls the process stuck, not a claim about speed.
AT_ONCE_S = 10.0
SHORT_TIMEOUT = "1"
LONG_TIMEOUT = "30"
DRAIN_WINDOW_S = 1.0
CLOSE_GOING_AWAY = 1001


def unreachable(scheme: str) -> str:
    """A URL on a loopback port where nothing listens (with a password, but for http)."""
    credentials = "" if scheme == "http" else "guest:secret@"
    return f"{scheme}://{credentials}127.0.0.1:{free_port()}/"


@contextmanager
def held_port() -> Iterator[int]:
    """A loopback port another socket listens on."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


@pytest.fixture
def env(amqp_url: str, tmp_path: Path) -> dict[str, str]:
    """Everything reachable but the API and presence; short start timeouts."""
    _, public = ensure_key_pair(tmp_path / "keys")
    return livedesk_env(
        {
            "LIVEDESK_DATA_DIR": str(tmp_path / "data"),
            "LIVEDESK_AMQP_URL": amqp_url,
            "LIVEDESK_DATABASE_URL": unreachable("postgresql+asyncpg"),
            "LIVEDESK_API_URL": f"http://127.0.0.1:{free_port()}",
            "LIVEDESK_PRESENCE_URL": f"http://127.0.0.1:{free_port()}",
            "LIVEDESK_TOKENS__PUBLIC_KEY_PATH": str(public),
            "LIVEDESK_BUS__CONNECT_TIMEOUT_S": SHORT_TIMEOUT,
            "LIVEDESK_API__DB_CONNECT_TIMEOUT_S": SHORT_TIMEOUT,
            "LIVEDESK_PRESENCE__JWKS_TIMEOUT_S": SHORT_TIMEOUT,
            "LIVEDESK_GATEWAY__DRAIN_WINDOW_S": str(DRAIN_WINDOW_S),
        }
    )


@pytest.fixture
def deployment(
    postgres_url: str, amqp_url: str, tmp_path: Path, env: dict[str, str]
) -> Iterator[Deployment]:
    """A migrated database of its own, and `env` pointed at it."""
    with api_deployment(postgres_url, amqp_url, tmp_path / "data") as made:
        made.env.update({**env, "LIVEDESK_DATABASE_URL": made.database_url})
        yield made


def serve_args(command: str, port: int, env: dict[str, str]) -> tuple[str, ...]:
    args: tuple[str, ...] = (command, "--host", "127.0.0.1", "--port", str(port))
    if command == "standalone":  # else it would make ./data
        args += ("--data-dir", env["LIVEDESK_DATA_DIR"])
    return args


def assert_ended(process: Livedesk, status: int, line: str) -> None:
    """Ended with `status`, `line` the last of stderr, no traceback, nothing left behind."""
    assert process.wait(AT_ONCE_S) == status, process.stderr()
    assert process.last_line() == line, process.stderr()
    assert "Traceback" not in process.stderr(), process.stderr()
    assert wait_until_gone(process), f"processes left behind: {process.children()}"


def wait_bound(port: int, process: Livedesk) -> None:
    """Until the process holds `port`: its signal handling is in place by then."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.process.poll() is None, process.stderr()
        with socket.socket() as probe:  # no SO_REUSEADDR: any binding of the port refuses it
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} never bound:\n{process.stderr()}")


async def wait_answering(url: str, process: Livedesk) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            assert process.process.poll() is None, process.stderr()
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered 200:\n{process.stderr()}")


# -- cannot start -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("api",), ("api", "--workers", "2"), ("gateway",), ("presence",), ("standalone",)],
    ids=" ".join,
)
def test_a_taken_port_ends_the_service_with_one_line(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    with held_port() as port:
        argv = (*serve_args(args[0], port, env), *args[1:])
        with Livedesk(*argv, env=env) as process:
            line = f"livedesk {args[0]}: cannot listen on 127.0.0.1:{port}: address already in use"
            assert_ended(process, EXIT_CANNOT_LISTEN, line)


@pytest.mark.parametrize(
    ("command", "setting", "scheme", "what"),
    [
        ("gateway", "LIVEDESK_AMQP_URL", "amqp", "the broker at {url}"),
        (
            "gateway",
            "LIVEDESK_API_URL",
            "http",
            "the API's token key at {url}.well-known/jwks.json",
        ),
        ("presence", "LIVEDESK_AMQP_URL", "amqp", "the broker at {url}"),
        (
            "presence",
            "LIVEDESK_API_URL",
            "http",
            "the API's token key at {url}.well-known/jwks.json",
        ),
        ("api", "LIVEDESK_DATABASE_URL", "postgresql+asyncpg", "the database at {url}"),
        ("migrate", "LIVEDESK_DATABASE_URL", "postgresql+asyncpg", "the database at {url}"),
        ("bootstrap", "LIVEDESK_DATABASE_URL", "postgresql+asyncpg", "the database at {url}"),
    ],
    ids=[
        "gateway-broker",
        "gateway-keys",
        "presence-broker",
        "presence-keys",
        "api-database",
        "migrate-database",
        "bootstrap-database",
    ],
)
def test_an_unreachable_dependency_ends_the_command_with_one_line(
    command: str, setting: str, scheme: str, what: str, env: dict[str, str]
) -> None:
    url = unreachable(scheme)
    env = {**env, setting: url}
    if setting == "LIVEDESK_API_URL":
        del env["LIVEDESK_TOKENS__PUBLIC_KEY_PATH"]  # so that the key comes from the API
    args = serve_args(command, free_port(), env)
    if command == "migrate":
        args = ("migrate",)
    elif command == "bootstrap":
        args = ("bootstrap", "--account", "A", "--email", "a@example.org", "--password", "x" * 12)
    with Livedesk(*args, env=env) as process:
        shown = what.format(url=url.replace(":secret@", "@"))  # never a password
        line = f"livedesk {command}: cannot reach {shown} within {SHORT_TIMEOUT} s"
        assert_ended(process, EXIT_UNAVAILABLE, line)


@pytest.mark.parametrize("command", ["gateway", "presence"])
def test_a_key_file_that_cannot_be_read_ends_the_service_with_one_line(
    command: str, env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-key.pem"
    env = {**env, "LIVEDESK_TOKENS__PUBLIC_KEY_PATH": str(missing)}
    with Livedesk(*serve_args(command, free_port(), env), env=env) as process:
        line = f"livedesk {command}: cannot read the token key file {missing}: "
        assert process.wait(AT_ONCE_S) == EXIT_UNAVAILABLE, process.stderr()
        assert process.last_line().startswith(line), process.stderr()
        assert "Traceback" not in process.stderr(), process.stderr()


# -- signals while starting -----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "setting", "scheme", "signum"),
    [
        ("gateway", "LIVEDESK_API_URL", "http", SIGTERM),  # waiting for the token key
        ("gateway", "LIVEDESK_AMQP_URL", "amqp", SIGINT),  # connecting to the broker
        ("presence", "LIVEDESK_AMQP_URL", "amqp", SIGTERM),
        ("api", "LIVEDESK_DATABASE_URL", "postgresql+asyncpg", SIGTERM),
    ],
    ids=[
        "gateway-keys-SIGTERM",
        "gateway-broker-SIGINT",
        "presence-broker-SIGTERM",
        "api-database-SIGTERM",
    ],
)
def test_a_signal_while_starting_ends_the_service_at_once(
    command: str, setting: str, scheme: str, signum: Signals, env: dict[str, str]
) -> None:
    env = {
        **env,
        setting: unreachable(scheme),
        "LIVEDESK_BUS__CONNECT_TIMEOUT_S": LONG_TIMEOUT,
        "LIVEDESK_API__DB_CONNECT_TIMEOUT_S": LONG_TIMEOUT,
    }
    if setting == "LIVEDESK_API_URL":
        del env["LIVEDESK_TOKENS__PUBLIC_KEY_PATH"]
    port = free_port()
    with Livedesk(*serve_args(command, port, env), env=env) as process:
        wait_bound(port, process)
        time.sleep(0.5)  # well into the wait
        process.send(signum)
        assert process.wait(AT_ONCE_S) == 0, process.stderr()
        assert "Traceback" not in process.stderr(), process.stderr()
        assert wait_until_gone(process)


# -- signals while serving ------------------------------------------------------------


@pytest.mark.parametrize("command", ["gateway", "standalone"])
async def test_sigterm_drains_the_sockets_and_ends_the_service(
    command: str, env: dict[str, str]
) -> None:
    port = free_port()
    with Livedesk(*serve_args(command, port, env), env=env) as process:
        await wait_answering(f"http://127.0.0.1:{port}/healthz", process)
        clients = [await WsClient(f"ws://127.0.0.1:{port}/ws").open() for _ in range(3)]
        try:
            process.send(SIGTERM)
            for client in clients:
                assert await client.wait_closed(AT_ONCE_S) == CLOSE_GOING_AWAY
                assert client.of_type("reconnect"), client.frames
            assert await asyncio.to_thread(process.wait, DRAIN_WINDOW_S + AT_ONCE_S) == 0
        finally:
            for client in clients:
                await client.close()
        assert "Traceback" not in process.stderr(), process.stderr()
        assert wait_until_gone(process)


async def test_sigterm_ends_a_running_presence(env: dict[str, str]) -> None:
    port = free_port()
    with Livedesk(*serve_args("presence", port, env), env=env) as process:
        await wait_answering(f"http://127.0.0.1:{port}/readyz", process)
        process.send(SIGTERM)
        assert await asyncio.to_thread(process.wait, AT_ONCE_S) == 0, process.stderr()
        assert "Traceback" not in process.stderr(), process.stderr()
        assert wait_until_gone(process)


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_ends_a_running_api_and_its_workers(
    workers: str, deployment: Deployment
) -> None:
    port = free_port()
    args = (*serve_args("api", port, deployment.env), "--workers", workers)
    with Livedesk(*args, env=deployment.env) as process:
        await wait_answering(f"http://127.0.0.1:{port}/healthz", process)
        process.send(SIGTERM)
        assert await asyncio.to_thread(process.wait, AT_ONCE_S) == 0, process.stderr()
        assert "Traceback" not in process.stderr(), process.stderr()
        assert wait_until_gone(process), f"processes left behind: {process.children()}"


# -- a second signal ------------------------------------------------------------------


@pytest.mark.parametrize("second", [SIGTERM, SIGINT], ids=lambda s: s.name)
async def test_a_second_signal_ends_the_gateways_drain_at_once(
    second: Signals, env: dict[str, str]
) -> None:
    port = free_port()
    # One socket, a long window: the drain closes it at once, then waits out the window.
    env = {**env, "LIVEDESK_GATEWAY__DRAIN_WINDOW_S": LONG_TIMEOUT}
    with Livedesk(*serve_args("gateway", port, env), env=env) as process:
        await wait_answering(f"http://127.0.0.1:{port}/readyz", process)
        client = await WsClient(f"ws://127.0.0.1:{port}/ws").open()
        try:
            process.send(SIGTERM)
            await until(lambda: client.of_type("reconnect"), timeout_s=AT_ONCE_S)
            process.send(second)
            assert await asyncio.to_thread(process.wait, AT_ONCE_S) == 128 + second
        finally:
            await client.close()
        assert process.last_line() == f"livedesk gateway: {second.name} received; stopping at once"
        assert wait_until_gone(process)


def hold_requests_open(port: int, count: int) -> list[socket.socket]:
    """Requests whose bodies never come: each worker's drain waits for them."""
    unfinished = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    for connection in unfinished:
        connection.sendall(
            b"POST /v1/auth/token HTTP/1.1\r\nHost: api\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
    return unfinished


async def test_an_apis_drain_ends_at_its_timeout_however_long_requests_hang(
    deployment: Deployment,
) -> None:
    port = free_port()
    env = {**deployment.env, "LIVEDESK_API__DRAIN_TIMEOUT_S": "2"}
    with Livedesk(*serve_args("api", port, env), "--workers", "2", env=env) as process:
        await wait_answering(f"http://127.0.0.1:{port}/healthz", process)
        unfinished = hold_requests_open(port, 8)
        try:
            await asyncio.sleep(0.5)  # read by the workers
            process.send(SIGTERM)
            await asyncio.sleep(1.0)
            assert process.process.poll() is None, "the drain should wait for the requests"
            assert await asyncio.to_thread(process.wait, AT_ONCE_S) == 0, process.stderr()
        finally:
            for connection in unfinished:
                connection.close()
        assert "Traceback" not in process.stderr(), process.stderr()
        assert wait_until_gone(process), f"processes left behind: {process.children()}"


async def test_a_second_signal_ends_the_apis_drain_and_its_workers_at_once(
    deployment: Deployment,
) -> None:
    port = free_port()
    args = (*serve_args("api", port, deployment.env), "--workers", "2")
    with Livedesk(*args, env=deployment.env) as process:
        await wait_answering(f"http://127.0.0.1:{port}/healthz", process)
        unfinished = hold_requests_open(port, 8)
        try:
            await asyncio.sleep(0.5)  # read by the workers
            process.send(SIGTERM)
            await asyncio.sleep(1.0)
            assert process.process.poll() is None, "the drain should wait for the requests"
            process.send(SIGINT)
            assert await asyncio.to_thread(process.wait, AT_ONCE_S) == 128 + SIGINT
        finally:
            for connection in unfinished:
                connection.close()
        assert process.last_line() == "livedesk api: SIGINT received; stopping at once"
        assert wait_until_gone(process), f"processes left behind: {process.children()}"
