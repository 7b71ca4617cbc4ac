"""Events: round trips, one encoding reused, and clear errors for what must be refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from livedesk.shared import events, routing
from livedesk.shared.errors import EventError

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def new_message(content: str = "hello", offset: int = 1) -> events.NewMessage:
    return events.NewMessage(
        offset=offset,
        account_id=7,
        conversation_id=3,
        ts=NOW,
        data=events.MessageData(
            id=11,
            conversation_id=3,
            kind=events.MessageKind.INCOMING,
            content=content,
            sender_type=events.SenderType.CONTACT,
            created_at=NOW,
        ),
    )


def conversation() -> events.ConversationData:
    return events.ConversationData(
        id=3,
        inbox_id=1,
        contact_id=2,
        status=events.ConversationStatus.OPEN,
        version=2,
        created_at=NOW,
        last_activity_at=NOW,
    )


# One of each declared event: test_every_declared_event_has_a_sample keeps it whole.
SAMPLES: list[events.Event] = [
    new_message(),
    events.NewConversation(offset=2, account_id=7, conversation_id=3, ts=NOW, data=conversation()),
    events.ConversationUpdated(
        offset=3,
        account_id=7,
        conversation_id=3,
        ts=NOW,
        data=events.ConversationChange(conversation=conversation(), changed=("assignee_id",)),
    ),
    events.MessageRead(
        offset=4,
        account_id=7,
        conversation_id=3,
        ts=NOW,
        data=events.ReadData(user_id=5, message_id=11),
    ),
    events.Typing(account_id=7, conversation_id=3, user_id=5, state=events.TypingState.START),
    events.AgentStatusChanged(account_id=7, user_id=5, status=events.AgentStatus.BUSY),
    events.PresenceState(account_id=7, agents={5: events.AgentStatus.AWAY}),
]
each_event = pytest.mark.parametrize("event", SAMPLES, ids=lambda event: str(event.type))


@each_event
def test_every_event_survives_a_round_trip(event: events.Event) -> None:
    raw = events.encode(event)
    assert events.decode(raw) == event
    assert b'"v":1' in raw


def test_every_declared_event_has_a_sample() -> None:
    declared = events.PERSISTENT_TYPES | events.EPHEMERAL_TYPES
    assert {event.type for event in SAMPLES} == declared
    assert not events.PERSISTENT_TYPES & events.EPHEMERAL_TYPES


@each_event
def test_each_event_declares_its_kind_audience_and_route(event: events.Event) -> None:
    persistent = event.type in events.PERSISTENT_TYPES
    assert persistent == isinstance(event, events.Persistent)
    assert isinstance(event.audience, events.Audience), "an event says whom it reaches"
    if event.audience is events.Audience.SOCKET:
        assert not isinstance(event, get_args(events.Routed)), "made for one socket, not routed"
        return
    assert isinstance(event, get_args(events.Routed))
    key = routing.parse_account_key(routing.event_key(event))
    assert (key.account_id, key.event_type) == (event.account_id, event.type)
    assert (key.subject, key.subject_id) == tuple(event.subject())
    if event.audience is events.Audience.SUBSCRIBERS:
        assert key.subject == events.Subject.CONVERSATION, "subscribers are a conversation's"


def test_encoding_is_stable_so_one_encoding_can_be_reused() -> None:
    assert events.encode(new_message()) == events.encode(new_message())


def test_unknown_type_is_refused_with_a_clear_error() -> None:
    with pytest.raises(EventError) as caught:
        events.decode(b'{"type": "new_telegram", "v": 1}')
    assert caught.value.code == "invalid_event"
    assert "new_telegram" in caught.value.message


def test_oversize_content_is_refused_when_the_event_is_built() -> None:
    with pytest.raises(ValueError, match="at most 16384 characters"):
        new_message(content="x" * (events.MAX_CONTENT_CHARS + 1))


def test_content_at_the_limit_is_accepted() -> None:
    assert len(new_message(content="x" * events.MAX_CONTENT_CHARS).data.content) == 16_384


def test_oversize_bytes_are_refused_before_parsing() -> None:
    with pytest.raises(EventError) as caught:
        events.decode(b" " * (events.MAX_EVENT_BYTES + 1))
    assert caught.value.code == "too_large"


def test_an_undeclared_field_is_a_producer_bug() -> None:
    raw = events.encode(new_message()).replace(b'"v":1', b'"v":1,"surprise":true')
    with pytest.raises(EventError, match="surprise"):
        events.decode(raw)


def test_a_future_version_is_refused_rather_than_misread() -> None:
    raw = events.encode(new_message()).replace(b'"v":1', b'"v":2')
    with pytest.raises(EventError, match="v"):
        events.decode(raw)


def test_decode_persistent_refuses_ephemeral_events() -> None:
    typing = events.Typing(
        account_id=7, conversation_id=3, user_id=5, state=events.TypingState.STOP
    )
    with pytest.raises(EventError):
        events.decode_persistent(events.encode(typing))


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(EventError, match="invalid_event"):
        events.decode(b"{not json")


def test_offsets_start_at_one() -> None:
    with pytest.raises(ValueError, match="offset"):
        new_message(offset=0)
