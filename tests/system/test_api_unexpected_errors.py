"""An unexpected error in a real `livedesk api` process: one logged 500 carrying a request
id, and the client's keep-alive connection goes on working.

The failure is injected from outside, as an operator's mistake would be: a table the
request needs is renamed under the running process. Each failing request and the next one
travel on one HTTP/1.1 connection (http.client, which never reconnects by itself). On
each database, with each route for message posts: the post fails inside the fast route
(`fast_messages`) or in FastAPI's, and both must answer alike.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support.backends import (
    DEPLOYMENT_PARAMS,
    Database,
    Route,
    RunningApi,
    running_api,
)


@dataclass(frozen=True)
class Logged:
    api: RunningApi
    log_path: Path


@pytest.fixture(params=DEPLOYMENT_PARAMS)
def logged_api(request: pytest.FixtureRequest, amqp_url: str, tmp_path: Path) -> Iterator[Logged]:
    database: Database
    route: Route
    database, route = request.param
    postgres_url = request.getfixturevalue("postgres_url") if database == "postgres" else ""
    log_path = tmp_path / "api.log"
    with running_api(database, postgres_url, amqp_url, tmp_path, log_path, route) as api:
        yield Logged(api, log_path)


def rename_table(database_url: str, table: str) -> None:
    async def rename() -> None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
        finally:
            await engine.dispose()

    asyncio.run(rename())


def exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response, response.read()


def test_an_unexpected_error_is_one_logged_500_and_the_connection_lives_on(
    logged_api: Logged,
) -> None:
    api = logged_api.api
    auth = api.admin
    json_body = {**auth, "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", api.process.port, timeout=10)
    inbox, raw_inbox = exchange(connection, "POST", "/v1/inboxes", json_body, b'{"name": "w"}')
    contact, raw_contact = exchange(connection, "POST", "/v1/contacts", json_body, b'{"name": "C"}')
    assert inbox.status == contact.status == 201, (raw_inbox, raw_contact)
    ids = {"inbox_id": json.loads(raw_inbox)["id"], "contact_id": json.loads(raw_contact)["id"]}
    opened, raw = exchange(
        connection, "POST", "/v1/conversations", json_body, json.dumps(ids).encode()
    )
    assert opened.status == 201, raw
    conversation = json.loads(raw)["id"]
    socket = connection.sock

    rename_table(api.database_url, "contacts")
    rename_table(api.database_url, "messages")
    failing = (
        ("GET", "/v1/contacts", auth, None, "inject-list.1"),
        (
            "POST",
            f"/v1/conversations/{conversation}/messages",
            json_body,
            b'{"content": "hello"}',
            "inject-post:2",
        ),
    )
    for method, path, headers, body, request_id in failing:
        failed, raw = exchange(
            connection, method, path, {**headers, "X-Request-ID": request_id}, body
        )
        assert failed.status == 500, raw
        assert not failed.will_close  # no "Connection: close"
        # The next request on the same connection is answered.
        after, raw_after = exchange(connection, "GET", "/v1/agents", auth)
        assert after.status == 200, raw_after
        assert connection.sock is socket
        assert len(after.getheader("X-Request-ID") or "") == 32  # one of the API's own
        # The 500 names the request, in its header and its body.
        assert failed.getheader("X-Request-ID") == request_id
        answer = json.loads(raw)
        assert answer["code"] == "internal_error"
        assert answer["request_id"] == request_id
        assert request_id in answer["message"]

    # A request id that is not sane is replaced, not echoed.
    odd, _ = exchange(connection, "GET", "/healthz", {"X-Request-ID": "two words"})
    assert odd.getheader("X-Request-ID") not in (None, "two words")
    connection.close()
    api.process.stop()
    log = logged_api.log_path.read_text()
    assert "Exception in ASGI application" not in log
    for *_, request_id in failing:
        lines = [line for line in log.splitlines() if request_id in line]
        assert len(lines) == 1, log
        assert " ERROR " in lines[0]
        assert "unexpected error answering" in lines[0]
