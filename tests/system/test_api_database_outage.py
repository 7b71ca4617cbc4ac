"""The database goes away under a running `livedesk api` (a failover, a network cut): requests
get 503 with Retry-After, not 500, and the API serves again once the database is back, with
a retried message written once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tests.support.api import (
    PASSWORD,
    ApiProcess,
    bearer,
    livedesk_env,
    postgres_database,
)
from tests.support.backends import ADMIN_EMAIL, migrated_with_an_admin
from tests.support.tcp_forwarder import forwarding


def test_requests_get_503_while_the_database_is_away_and_a_retry_writes_once(
    postgres_url: str, amqp_url: str, tmp_path: Path
) -> None:
    with postgres_database(postgres_url) as database_url:
        env = livedesk_env(
            {
                "LIVEDESK_DATABASE_URL": database_url,
                "LIVEDESK_AMQP_URL": amqp_url,
                "LIVEDESK_DATA_DIR": str(tmp_path),
            }
        )
        migrated_with_an_admin(env)
        url = make_url(database_url)
        with forwarding(url.host or "127.0.0.1", url.port or 5432) as link:
            through_link = url.set(port=link.port).render_as_string(hide_password=False)
            log = tmp_path / "api.log"
            with (
                ApiProcess({**env, "LIVEDESK_DATABASE_URL": through_link}, log_path=log) as api,
                httpx.Client(base_url=api.url, timeout=10) as http,
            ):
                login = {"email": ADMIN_EMAIL, "password": PASSWORD}
                admin = bearer(http.post("/v1/auth/token", json=login).json()["access_token"])
                inbox = http.post("/v1/inboxes", json={"name": "Web"}, headers=admin).json()
                contact = http.post("/v1/contacts", json={"name": "Jo"}, headers=admin).json()
                conversation = http.post(
                    "/v1/conversations",
                    json={"inbox_id": inbox["id"], "contact_id": contact["id"]},
                    headers=admin,
                ).json()
                messages = f"/v1/conversations/{conversation['id']}/messages"
                reply = {"content": "On it", "kind": "outgoing", "client_id": "reply-1"}

                link.cut()
                for answer in (
                    http.get("/v1/conversations", headers=admin),
                    http.post(messages, json=reply, headers=admin),
                    http.post("/v1/auth/token", json=login),
                ):
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["code"] == "database_unavailable"
                    assert int(answer.headers["retry-after"]) >= 1

                link.restore()
                deadline = time.monotonic() + 15
                while (answer := http.post(messages, json=reply, headers=admin)).status_code == 503:
                    assert time.monotonic() < deadline, "the API did not come back"
                    time.sleep(0.2)
                assert answer.status_code in (200, 201), answer.text
                again = http.post(messages, json=reply, headers=admin)
                assert again.json()["id"] == answer.json()["id"]
                written = http.get(messages, headers=admin).json()
                assert [m["client_id"] for m in written["items"]].count("reply-1") == 1
        assert "unexpected error" not in log.read_text()
