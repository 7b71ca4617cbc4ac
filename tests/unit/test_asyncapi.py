"""docs/asyncapi.yaml is what `livedesk asyncapi` generates from the code, and says what the
services really write: every close and error code explained, every frame and event there,
every field a frame or event is written with marked required."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from livedesk.cli import asyncapi, asyncapi_codes
from livedesk.gateway import protocol
from livedesk.shared import events

PUBLISHED = Path(__file__).parents[2] / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(asyncapi.render())
    return loaded


def test_the_published_document_is_the_generated_one() -> None:
    assert PUBLISHED.read_text() == asyncapi.render(), (
        f"docs/asyncapi.yaml differs from what the code generates: run `{asyncapi.COMMAND}`"
    )


def test_every_close_code_the_gateway_names_is_in_the_document() -> None:
    table = asyncapi_codes.close_codes_table()
    for name, code in vars(protocol).items():
        if name.startswith("CLOSE_"):
            assert f"| {code} |" in table, name


def test_a_code_the_gateway_names_but_the_document_does_not_explain_stops_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "CLOSE_NEW", 4499, raising=False)
    with pytest.raises(LookupError, match="4499"):
        asyncapi.render()
    monkeypatch.delattr(protocol, "CLOSE_NEW")
    monkeypatch.setattr(protocol, "ERR_NEW", "new_code", raising=False)
    with pytest.raises(LookupError, match="new_code"):
        asyncapi.render()


def test_the_socket_carries_every_frame_and_event(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    socket = document["channels"]["socket"]["messages"]
    names = {messages[ref["$ref"].rsplit("/", 1)[1]]["name"] for ref in socket.values()}
    client = {"auth", "subscribe", "unsubscribe", "typing", "ping"}
    control = {"ready", "auth_renewed", "subscribed", "unsubscribed", "pong", "error"}
    notices = {"resync_required", "reconnect"}
    assert names == client | control | notices | events.PERSISTENT_TYPES | events.EPHEMERAL_TYPES


def schema_of(document: dict[str, Any], message: str) -> dict[str, Any]:
    ref = document["components"]["messages"][message]["payload"]["$ref"]
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


@pytest.mark.parametrize(
    ("message", "frame"),
    [
        ("ready", protocol.ready("gw-1", 1, 2, 0, 3.0)),
        ("ready", protocol.ready("gw-1", 1, 2, 0, 3.0, ref="r")),
        ("auth_renewed", protocol.auth_renewed(1.0e9, 7)),
        ("subscribed", protocol.subscribed(3, [2])),
        ("unsubscribed", protocol.unsubscribed(3)),
        ("pong", protocol.pong(None)),
        ("error", protocol.error(protocol.ERR_INVALID, "m", "r")),
        ("resync_required", protocol.resync_required(5, "m")),
        ("reconnect", protocol.reconnect("m")),
    ],
)
def test_each_control_frame_is_written_with_the_fields_the_document_requires(
    document: dict[str, Any], message: str, frame: bytes
) -> None:
    schema = schema_of(document, message)
    written = json.loads(frame)
    assert set(schema["required"]) <= set(written) <= set(schema["properties"])
    assert set(written) - set(schema["required"]) <= {"ref"}


def test_an_event_is_written_with_every_field_the_document_requires(
    document: dict[str, Any],
) -> None:
    event = events.decode(
        b'{"offset":1,"account_id":1,"conversation_id":2,"ts":"2026-01-01T00:00:00Z",'
        b'"type":"new_message","data":{"id":3,"conversation_id":2,"kind":"note",'
        b'"content":"x","sender_type":"agent","created_at":"2026-01-01T00:00:00Z"}}'
    )
    written = json.loads(events.encode(event))
    schema = schema_of(document, "new_message")
    assert set(written) == set(schema["required"]) == set(schema["properties"])
    data = document["components"]["schemas"]["MessageData"]
    assert set(written["data"]) == set(data["required"])


def test_the_client_frames_allow_unknown_fields_and_say_what_they_require(
    document: dict[str, Any],
) -> None:
    auth = schema_of(document, "client.auth")
    assert auth["required"] == ["type", "token"]
    assert "additionalProperties" not in auth
