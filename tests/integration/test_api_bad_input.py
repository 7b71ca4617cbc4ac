"""Bad input gets a clear 4xx, never a 500, on PostgreSQL and SQLite alike, with either
route for message posts (the fast one and FastAPI's alone).

Each case here once answered 500 or an unhelpful message: numbers beyond the databases'
64-bit integers (in cursors, filters, paths and bodies), NUL characters (PostgreSQL's text
cannot hold one), whitespace-only messages, malformed JSON, and tokens that are not tokens.
Every answer carries an X-Request-ID.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.api import PASSWORD, livedesk
from tests.support.backends import RunningApi

BEYOND = 2**63  # one past the largest id either database can store
HUGE = "9" * 20


@dataclass(frozen=True)
class Desk:
    client: httpx.Client
    api: RunningApi
    inbox_id: int
    contact_id: int
    conversation_id: int
    message_id: int

    @property
    def admin(self) -> dict[str, str]:
        return self.api.admin


@pytest.fixture(scope="module")
def desk(running_api_process: RunningApi) -> Iterator[Desk]:
    api = running_api_process
    with httpx.Client(base_url=api.url, timeout=10) as client:
        inbox = client.post("/v1/inboxes", json={"name": "web"}, headers=api.admin).json()
        contact = client.post("/v1/contacts", json={"name": "C"}, headers=api.admin).json()
        conversation = client.post(
            "/v1/conversations",
            json={"inbox_id": inbox["id"], "contact_id": contact["id"]},
            headers=api.admin,
        ).json()
        message = client.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={"content": "hello"},
            headers=api.admin,
        ).json()
        yield Desk(client, api, inbox["id"], contact["id"], conversation["id"], message["id"])


def refused(response: httpx.Response, status: int, code: str) -> str:
    """The error's message, once the answer is known to be the clear 4xx expected."""
    assert response.status_code == status, (response.request.url, response.text)
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert response.headers["X-Request-ID"]
    message: str = body["message"]
    return message


def cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(map(str, parts)).encode()).decode().rstrip("=")


def test_cursors_beyond_64_bits_are_refused(desk: Desk) -> None:
    conversation = desk.conversation_id
    lists = (
        f"/v1/conversations/{conversation}/messages",
        "/v1/inboxes",
        "/v1/contacts",
    )
    for path in lists:
        for bad in (cursor(BEYOND), cursor(-BEYOND - 1), cursor(HUGE), cursor("1" * 5000)):
            response = desk.client.get(path, params={"cursor": bad}, headers=desk.admin)
            assert "cursor" in refused(response, 422, "invalid_request")
        # The largest id is a position like any other: after it, nothing.
        last = desk.client.get(path, params={"cursor": cursor(BEYOND - 1)}, headers=desk.admin)
        assert last.status_code == 200, last.text
        assert last.json()["items"] == []
    for bad in (
        cursor("2026-01-01T00:00:00+00:00", BEYOND),
        cursor("0001-01-01T00:00:00+14:00", 1),  # before year 1 once in UTC
        cursor("9999-12-31T23:59:59-14:00", 1),  # after year 9999 once in UTC
        cursor("2026-01-01T00:00:00", 1),  # no time zone: not one this API made
    ):
        response = desk.client.get("/v1/conversations", params={"cursor": bad}, headers=desk.admin)
        assert "cursor" in refused(response, 422, "invalid_request")


def test_ids_beyond_64_bits_are_refused(desk: Desk) -> None:
    client, admin, conversation = desk.client, desk.admin, desk.conversation_id
    for value in (str(BEYOND), HUGE, "9" * 19):
        listed = client.get("/v1/conversations", params={"assignee": value}, headers=admin)
        refused(listed, 422, "invalid_request")
    largest = client.get("/v1/conversations", params={"assignee": str(BEYOND - 1)}, headers=admin)
    assert largest.status_code == 200, largest.text
    for path in (
        f"/v1/conversations/{HUGE}",
        f"/v1/conversations/{HUGE}/messages",
        f"/v1/agents/{HUGE}",
        f"/v1/inboxes/{HUGE}",
        f"/v1/contacts/{HUGE}",
        f"/v1/conversations?inbox={HUGE}",
        f"/v1/events?after={HUGE}",
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
        "/v1/inboxes?limit=0",
        "/v1/inboxes?limit=501",
        "/v1/conversations?limit=201",
    ):
        refused(client.get(path, headers=admin), 422, "invalid_request")
    refused(client.get(f"/v1/conversations/{BEYOND - 1}", headers=admin), 404, "not_found")
    for path, body in (
        ("/v1/conversations", {"inbox_id": BEYOND, "contact_id": desk.contact_id}),
        ("/v1/conversations", {"inbox_id": desk.inbox_id, "contact_id": BEYOND}),
        (
            "/v1/conversations",
            {"inbox_id": desk.inbox_id, "contact_id": desk.contact_id, "assignee_id": BEYOND},
        ),
        (f"/v1/conversations/{conversation}/read", {"message_id": BEYOND}),
        (f"/v1/conversations/{HUGE}/messages", {"content": "hi"}),
        (f"/v1/conversations/{HUGE}/read", {"message_id": 1}),
    ):
        refused(client.post(path, json=body, headers=admin), 422, "invalid_request")
    patch = client.patch(
        f"/v1/conversations/{conversation}", json={"assignee_id": BEYOND}, headers=admin
    )
    refused(patch, 422, "invalid_request")


def test_if_match_must_be_a_plain_version(desk: Desk) -> None:
    url = f"{desk.api.url}/v1/conversations/{desk.conversation_id}"
    headers = [(k.encode(), v.encode()) for k, v in desk.admin.items()]
    # A superscript two (latin-1 0xb2) is a digit to str.isdigit, not to int().
    for value in (b'"\xb2"', b'"' + b"9" * 5000 + b'"', b'"-1"', b'"0"'):
        response = desk.client.patch(
            url, json={"status": "open"}, headers=[*headers, (b"If-Match", value)]
        )
        assert "If-Match" in refused(response, 422, "invalid_request")


def test_text_fields_refuse_nul_and_blank(desk: Desk) -> None:
    client, admin = desk.client, desk.admin
    messages = f"/v1/conversations/{desk.conversation_id}/messages"
    for content in ("   ", "\n\t", "\u3000", "a\x00b"):
        message = refused(
            client.post(messages, json={"content": content}, headers=admin), 422, "invalid_request"
        )
        assert message.startswith("body.content: "), message
    refused(
        client.post(messages, json={"content": "hi", "client_id": "a\x00"}, headers=admin),
        422,
        "invalid_request",
    )
    assert (
        client.post(messages, json={"content": "  spaced  "}, headers=admin).json()["content"]
        == "  spaced  "
    )  # kept as written
    for path, body in (
        ("/v1/inboxes", {"name": "web\x00"}),
        ("/v1/inboxes", {"name": " \t "}),
        ("/v1/contacts", {"name": "a\x00"}),
        ("/v1/contacts", {"name": "C", "email": "c\x00@acme.test"}),
        ("/v1/agents", {"email": "a@acme.test", "password": PASSWORD, "name": "\x00"}),
        ("/v1/auth/token", {"email": "admin\x00@acme.test", "password": PASSWORD}),
    ):
        refused(client.post(path, json=body, headers=admin), 422, "invalid_request")
    named = client.post("/v1/inboxes", json={"name": "  support  "}, headers=admin)
    assert named.json()["name"] == "support"


def test_bodies_that_are_not_json_say_so(desk: Desk) -> None:
    json_type = {**desk.admin, "Content-Type": "application/json"}
    for path in (f"/v1/conversations/{desk.conversation_id}/messages", "/v1/inboxes"):
        broken = desk.client.post(path, content=b'{"content": "a" "b"}', headers=json_type)
        message = refused(broken, 422, "invalid_request")
        assert message.startswith("the request body is not valid JSON (line 1, column 17)"), message
        lines = desk.client.post(path, content=b'{\n  "content": }', headers=json_type)
        assert "(line 2, column 14)" in refused(lines, 422, "invalid_request")
        not_utf8 = desk.client.post(path, content=b'{"content": "\xff"}', headers=json_type)
        assert "UTF-8" in refused(not_utf8, 422, "invalid_request")


def test_tokens_that_are_not_tokens_say_only_that(desk: Desk) -> None:
    messages = f"/v1/conversations/{desk.conversation_id}/messages"
    for token in (b"eyJhbGciOiJFZERTQSJ9.t.t", b"not.a.token", b"a", b"\xe9\xb7"):
        authorization = (b"Authorization", b"Bearer " + token)
        listed = desk.client.get("/v1/conversations", headers=[authorization])
        assert refused(listed, 401, "token_invalid") == "the token is not valid"
        posted = desk.client.post(
            messages,
            content=b'{"content": "hi"}',
            headers=[authorization, (b"Content-Type", b"application/json")],
        )
        assert refused(posted, 401, "token_invalid") == "the token is not valid"


def test_an_oversized_chunked_body_is_413(desk: Desk) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"content": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    response = desk.client.post(
        f"/v1/conversations/{desk.conversation_id}/messages",
        content=chunks(),
        headers={**desk.admin, "Content-Type": "application/json"},
    )
    refused(response, 413, "payload_too_large")


def test_one_address_rule_for_bootstrap_agents_login_and_contacts(desk: Desk) -> None:
    client, admin, env = desk.client, desk.admin, desk.api.env
    # Reserved test domains are addresses like any other: the README bootstraps admin@acme.test.
    made = client.post(
        "/v1/agents",
        json={"email": "Bob@Acme.TEST", "password": PASSWORD, "name": "Bob"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "bob@acme.test"
    for email in ("bob@acme.test", "BOB@acme.test", " bob@ACME.test "):
        login = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    contact = client.post(
        "/v1/contacts", json={"name": "C", "email": "Jane@Example.COM"}, headers=admin
    )
    assert contact.json()["email"] == "jane@example.com"
    for email in ("not an address", "a@localhost", "a@b.invalid", "a@b"):
        for path, body in (
            ("/v1/agents", {"email": email, "password": PASSWORD, "name": "X"}),
            ("/v1/contacts", {"name": "C", "email": email}),
            ("/v1/auth/token", {"email": email, "password": PASSWORD}),
        ):
            message = refused(client.post(path, json=body, headers=admin), 422, "invalid_request")
            assert message.startswith("body.email: not a valid e-mail address"), message
    args = ("bootstrap", "--account", "B", "--password", PASSWORD, "--email")
    refused_cli = livedesk(*args, "a@localhost", env=env)
    assert refused_cli.returncode == 1
    assert "not a valid e-mail address" in refused_cli.stderr
    bootstrapped = livedesk(*args, "Carol@Globex.test", env=env)
    assert bootstrapped.returncode == 0, bootstrapped.stderr
    carol = client.post("/v1/auth/token", json={"email": "carol@GLOBEX.test", "password": PASSWORD})
    assert carol.status_code == 200, carol.text
    # Another account may have the address too; in one account it is taken once, in any case.
    again = livedesk(*args, "CAROL@globex.test", env=env)
    assert again.returncode == 0, again.stderr
    twice = client.post(
        "/v1/agents",
        json={"email": "BOB@acme.Test", "password": PASSWORD, "name": "Bob"},
        headers=admin,
    )
    assert refused(twice, 409, "conflict") == "bob@acme.test is already registered"


def test_method_not_allowed_names_every_method_of_the_path(desk: Desk) -> None:
    for path, allowed in (
        ("/v1/agents", "GET, POST"),
        (f"/v1/conversations/{desk.conversation_id}", "GET, PATCH"),
        (f"/v1/conversations/{desk.conversation_id}/read", "POST"),
    ):
        response = desk.client.request("DELETE", path, headers=desk.admin)
        refused(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == allowed


def test_if_match_and_version_are_each_a_precondition(desk: Desk) -> None:
    url = f"/v1/conversations/{desk.conversation_id}"
    current = desk.client.get(url, headers=desk.admin).json()["version"]
    for if_match, version in ((current, current + 1), (current + 1, current)):
        response = desk.client.patch(
            url,
            json={"status": "pending", "version": version},
            headers={**desk.admin, "If-Match": f'"{if_match}"'},
        )
        assert str(current) in refused(response, 409, "version_conflict")
    both = desk.client.patch(
        url,
        json={"status": "pending", "version": current},
        headers={**desk.admin, "If-Match": f'W/"{current}"'},
    )
    assert both.status_code == 200, both.text
