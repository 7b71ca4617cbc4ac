"""Where the tests find RabbitMQ and PostgreSQL.

An URL from the environment wins (LIVEDESK_TEST_AMQP_URL, LIVEDESK_TEST_DATABASE_URL); else
the loopback service if it answers; else a testcontainers container when a Docker engine
answers. With none of these the tests that need the service fail and say why: a silent skip
would let a run with no broker look green.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from tests.support.vhosts import private_vhost

LOOPBACK_AMQP_URL: Final = "amqp://guest:guest@127.0.0.1:5672/"
LOOPBACK_DATABASE_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]  # comes with testcontainers

        docker.from_env().ping()
    except Exception:  # any failure means "no engine here", which is what we ask
        return False
    return True


@contextmanager
def amqp_service() -> Iterator[str]:
    """A broker URL whose vhost is this test run's own (see vhosts.py)."""
    with (
        amqp_server() as (server_url, management_url),
        private_vhost(server_url, management_url) as url,
    ):
        yield url


@contextmanager
def amqp_server() -> Iterator[tuple[str, str | None]]:
    """The broker's URL, and its management API's when known."""
    management_url = os.environ.get("LIVEDESK_TEST_AMQP_MANAGEMENT_URL")
    if url := os.environ.get("LIVEDESK_TEST_AMQP_URL"):
        yield url, management_url
    elif answers("127.0.0.1", 5672):
        yield LOOPBACK_AMQP_URL, management_url
    elif docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-management") as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
            management = container.get_exposed_port(15672)
            yield f"amqp://guest:guest@{host}:{port}/", f"http://{host}:{management}"
    else:
        raise RuntimeError(
            "no RabbitMQ: set LIVEDESK_TEST_AMQP_URL, start one on 127.0.0.1:5672, or run Docker"
        )


@contextmanager
def database_service() -> Iterator[str]:
    """A PostgreSQL server URL (SQLAlchemy form) whose user may create databases."""
    if url := os.environ.get("LIVEDESK_TEST_DATABASE_URL"):
        yield url
    elif answers("127.0.0.1", 5432):
        yield LOOPBACK_DATABASE_URL
    elif docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="asyncpg") as container:
            yield container.get_connection_url()
    else:
        raise RuntimeError(
            "no PostgreSQL: set LIVEDESK_TEST_DATABASE_URL, start one on 127.0.0.1:5432, "
            "or run Docker"
        )
