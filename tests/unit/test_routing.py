"""Routing keys: built in one place, parsed back, one account pattern per tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from livedesk.shared import routing
from livedesk.shared.bus.topic import matches
from livedesk.shared.errors import RoutingKeyError
from livedesk.shared.events import AgentStatus, AgentStatusChanged, Typing, TypingState
from livedesk.shared.presence_messages import ConnectionOpened, SocketRef


def test_conversation_keys_parse_back() -> None:
    key = routing.conversation_key(12, 345, "new_message")
    assert key == "acct.12.conv.345.new_message"
    parsed = routing.parse_account_key(key)
    assert (parsed.account_id, parsed.subject, parsed.subject_id, parsed.event_type) == (
        12,
        "conv",
        345,
        "new_message",
    )


def test_event_keys_follow_the_event() -> None:
    typing = Typing(account_id=1, conversation_id=2, user_id=3, state=TypingState.START)
    status = AgentStatusChanged(account_id=1, user_id=3, status=AgentStatus.ONLINE)
    assert routing.event_key(typing) == "acct.1.conv.2.typing"
    assert routing.event_key(status) == "acct.1.agent.3.agent_status"


def test_node_keys_name_the_node_and_message() -> None:
    opened = ConnectionOpened(
        node="gw-1",
        sent_at=datetime.now(UTC),
        socket=SocketRef(socket_id="s1", account_id=1, user_id=2),
    )
    assert routing.node_key(opened) == "node.gw-1.connection_opened"


def test_account_pattern_takes_one_account_and_no_other() -> None:
    pattern = routing.account_pattern(1)
    assert matches(pattern, routing.conversation_key(1, 9, "new_message"))
    assert matches(pattern, routing.agent_key(1, 9, "agent_status"))
    assert not matches(pattern, routing.conversation_key(11, 9, "new_message"))
    assert not matches(pattern, routing.conversation_key(21, 1, "new_message"))


@pytest.mark.parametrize(
    "key",
    ["acct.x.conv.1.new_message", "acct.1.room.1.new_message", "node.gw.heartbeat", "acct.1.conv"],
)
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(RoutingKeyError):
        routing.parse_account_key(key)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
        ("a.*.c", "a.b.b.c", False),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("#", "anything.at.all", True),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.x.y.c", True),
        ("a.#.c", "a.x.y.d", False),
        ("*.b.#", "a.b", True),
        ("*", "a.b", False),
        ("a.b", "a.b", True),
        ("a.b", "a.bb", False),
    ],
)
def test_topic_wildcards_follow_amqp(pattern: str, key: str, expected: bool) -> None:
    assert matches(pattern, key) is expected
