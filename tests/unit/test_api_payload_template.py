"""The PostgreSQL message write splices numbers into pre-encoded event bytes: the result
must be byte for byte what `events.encode` makes of the finished event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from livedesk.api.store.pg_messages import PayloadTemplate, template_event
from livedesk.shared.events import MessageKind, decode_persistent, encode

TRICKY = [
    "hello",
    'she said "hi" \\ and left',
    '"offset":9100000000000000001,"id":9100000000000000002',  # the stand-ins, as text
    "émoji 🎉 and \u2028 line separators\nand newlines",
    "x" * 16_384,
]


@pytest.mark.parametrize("content", TRICKY)
@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize("client_id", [None, "c-1", '"id":1'])
def test_filled_template_is_exactly_the_encoded_event(
    content: str, kind: MessageKind, client_id: str | None
) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    template = PayloadTemplate(template_event(11, 22, kind, content, client_id, now, now))
    payload = template.fill(offset=123, message_id=4567, sender_id=89)
    event = decode_persistent(payload)
    assert encode(event) == payload
    assert (event.offset, event.account_id, event.conversation_id) == (123, 11, 22)
    assert event.type == "new_message"
    data = event.data
    assert (data.id, data.sender_id, data.content, data.client_id) == (4567, 89, content, client_id)
    assert (data.kind, data.created_at, event.ts) == (kind, now, now)
