"""Fixtures every kind of test shares: where the broker and the database are.

Session fixtures are synchronous (URLs, containers, private nodes); async fixtures are
function-scoped so each test runs on its own event loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.private_rabbit import PrivateRabbit
from tests.support.processes import reaping
from tests.support.services import amqp_service, database_service


@pytest.fixture(autouse=True, scope="session")
def reap_session_processes() -> Iterator[None]:
    """Nothing a session-scoped fixture started outlives the run (see support/processes)."""
    with reaping():
        yield


@pytest.fixture(autouse=True)
def reap_test_processes() -> Iterator[None]:
    """Nothing a test started outlives it, whether it passed, failed or forgot."""
    with reaping():
        yield


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with amqp_service() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with database_service() as url:
        yield url


@pytest.fixture(scope="session")
def private_rabbit_node() -> Iterator[PrivateRabbit]:
    if not PrivateRabbit.available():
        pytest.fail("fault tests need a local RabbitMQ installation (rabbitmq-server)")
    node = PrivateRabbit()
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def private_rabbit(private_rabbit_node: PrivateRabbit) -> Iterator[PrivateRabbit]:
    """The private node, running again after the test whatever the test did to it."""
    yield private_rabbit_node
    private_rabbit_node.start_app()
