"""The only place that formats or parses routing keys.

    acct.<account>.conv.<conversation>.<type>   persistent events, and typing
    acct.<account>.agent.<user>.agent_status    agent status changes
    node.<node>.<type>                          gateway -> presence messages

Every key of an account starts with `acct.<account>.`, so one binding `acct.<account>.#` per
exchange gives a gateway all of that account's traffic and nothing of anyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from livedesk.shared.errors import RoutingKeyError
from livedesk.shared.events import Routed, Subject
from livedesk.shared.presence_messages import PresenceMessage

ACCOUNT: Final = "acct"
CONVERSATION: Final = Subject.CONVERSATION.value
AGENT: Final = Subject.AGENT.value
NODE: Final = "node"


@dataclass(frozen=True, slots=True)
class AccountKey:
    """A parsed `acct.` key: the account, what it is about, and the event type."""

    account_id: int
    subject: str  # CONVERSATION or AGENT
    subject_id: int
    event_type: str


def conversation_key(account_id: int, conversation_id: int, event_type: str) -> str:
    return f"{ACCOUNT}.{account_id}.{CONVERSATION}.{conversation_id}.{event_type}"


def agent_key(account_id: int, user_id: int, event_type: str) -> str:
    return f"{ACCOUNT}.{account_id}.{AGENT}.{user_id}.{event_type}"


def event_key(event: Routed) -> str:
    """The routing key an event is published with: its account, its subject, its type."""
    subject, subject_id = event.subject()
    return f"{ACCOUNT}.{event.account_id}.{subject.value}.{subject_id}.{event.type}"


def account_pattern(account_id: int) -> str:
    """Binds everything of one account, on either exchange."""
    return f"{ACCOUNT}.{account_id}.#"


def node_key(message: PresenceMessage) -> str:
    return f"{NODE}.{message.node}.{message.type}"


def parse_account_key(key: str) -> AccountKey:
    parts = key.split(".")
    if len(parts) != 5 or parts[0] != ACCOUNT or parts[2] not in (CONVERSATION, AGENT):
        raise RoutingKeyError(f"not an account routing key: {key!r}")
    try:
        account_id, subject_id = int(parts[1]), int(parts[3])
    except ValueError:
        raise RoutingKeyError(f"non-numeric id in routing key: {key!r}") from None
    return AccountKey(account_id, parts[2], subject_id, parts[4])
