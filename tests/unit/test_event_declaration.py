"""An event type is declared once; whatever sorts, routes, delivers or names events derives from it.

docs/design.md ("Adding an event type or a frame") lists the files one touches. These tests
hold the rest to it: each event model sits in exactly one declaring union in events.py; a new
model is routed and reaches its audience with no other edit; the relay, the clients and the
protocol description agree with the declarations; and no product module keeps a second list
of event type names by hand.
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, ClassVar, Literal, cast, get_args

import pytest
from pydantic import Field, TypeAdapter

from livedesk.gateway import fanout, frames
from livedesk.gateway.account import Account, Client
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.resume_budget import ResumeBudget
from livedesk.shared import events, routing
from livedesk.shared.settings import GatewaySettings
from livedesk_client import frames as client_frames

ROOT = Path(__file__).resolve().parents[2]
# Where product code lives: a hand-kept list of event types is looked for in all of it.
PRODUCT_ROOTS = (
    "shared/src",
    "services/api/src",
    "services/gateway/src",
    "services/presence/src",
    "src/livedesk",
    "clients/python/src",
    "bench/src",
)
JS_PROTOCOL = ROOT / "clients/js/src/protocol.ts"
DESIGN = ROOT / "docs/design.md"

EVENT_TYPES = events.PERSISTENT_TYPES | events.EPHEMERAL_TYPES
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


# What adding an event to events.py looks like: a model each. In events.py each would then get
# its one line in a declaring union; nothing else in the product needs an edit to route it.
class TagData(events.Model):
    tag: str


class ConversationTagged(events.Persistent):
    type: Literal["conversation_tagged"] = "conversation_tagged"
    data: TagData


class AgentWaving(events.Ephemeral):
    audience: ClassVar[events.Audience] = events.Audience.SUBSCRIBERS

    type: Literal["agent_waving"] = "agent_waving"
    conversation_id: events.ObjectId
    user_id: events.ObjectId

    def subject(self) -> tuple[events.Subject, int]:
        return events.Subject.CONVERSATION, self.conversation_id


def members(union: object) -> tuple[type, ...]:
    return get_args(union) or (cast(type, union),)


DECLARING_UNIONS = {
    "AnyPersistent": members(events.AnyPersistent),
    "AnyRoutedEphemeral": members(events.AnyRoutedEphemeral),
    "AnySocketEphemeral": members(events.AnySocketEphemeral),
}


def declared_models() -> list[type]:
    """Every concrete event model events.py defines."""
    return [
        value
        for value in vars(events).values()
        if isinstance(value, type)
        and issubclass(value, (events.Persistent, events.Ephemeral))
        and value not in (events.Persistent, events.Ephemeral)
    ]


def type_name(model: type) -> str:
    return cast(str, cast(type[events.Model], model).model_fields["type"].default)


@pytest.mark.parametrize("model", declared_models(), ids=type_name)
def test_each_event_model_is_in_exactly_one_declaring_union(model: type) -> None:
    homes = [name for name, union in DECLARING_UNIONS.items() if model in union]
    assert len(homes) == 1, f"{model.__name__} is declared in {homes or 'no union'}"
    audience = cast("type[events.Persistent | events.Ephemeral]", model).audience
    assert (homes == ["AnySocketEphemeral"]) == (audience is events.Audience.SOCKET)
    assert (homes != ["AnySocketEphemeral"]) == callable(getattr(model, "subject", None))


def test_the_type_sets_and_unions_derive_from_the_declaring_unions() -> None:
    persistent = DECLARING_UNIONS["AnyPersistent"]
    ephemeral = DECLARING_UNIONS["AnyRoutedEphemeral"] + DECLARING_UNIONS["AnySocketEphemeral"]
    assert {type_name(model) for model in persistent} == events.PERSISTENT_TYPES
    assert {type_name(model) for model in ephemeral} == events.EPHEMERAL_TYPES
    assert set(get_args(events.Routed)) == {*persistent, *DECLARING_UNIONS["AnyRoutedEphemeral"]}


def test_a_new_persistent_event_is_decoded_and_routed_from_its_model_alone() -> None:
    tagged = ConversationTagged(
        offset=9, account_id=7, conversation_id=3, ts=NOW, data=TagData(tag="vip")
    )
    # Its line in AnyPersistent is the one edit that makes the decoders know it:
    union = Annotated[events.AnyPersistent | ConversationTagged, Field(discriminator="type")]
    assert TypeAdapter(union).validate_json(tagged.model_dump_json()) == tagged
    # Routing, the relay and the audience need none: they read what the model declares.
    key = routing.event_key(cast(events.Routed, tagged))
    assert key == "acct.7.conv.3.conversation_tagged"
    assert key == routing.conversation_key(7, 3, tagged.type)  # how the relay keys outbox rows
    assert tagged.audience is events.Audience.ACCOUNT


def test_a_new_ephemeral_event_reaches_its_audience_from_its_model_alone() -> None:
    waving = AgentWaving(account_id=7, conversation_id=3, user_id=5)
    key = routing.parse_account_key(routing.event_key(cast(events.Routed, waving)))
    assert (key.subject, key.subject_id, key.event_type) == ("conv", 3, "agent_waving")
    account = Account(7, GatewaySettings(), ResumeBudget(1 << 20, Metrics()))
    reader, member = cast(Client, object()), cast(Client, object())
    account.members = {reader: None, member: None}
    account.subscribers = {3: {reader: None}, 4: {member: None}}
    assert list(fanout.audience(account, waving.audience, key.subject_id)) == [reader]
    assert list(fanout.audience(account, events.Audience.ACCOUNT, 5)) == [reader, member]


@pytest.mark.parametrize("model", DECLARING_UNIONS["AnyPersistent"], ids=type_name)
def test_the_relay_keys_each_persistent_event_as_its_declaration_routes_it(model: type) -> None:
    event = cast(type[events.Persistent], model).model_construct(
        offset=1, account_id=7, conversation_id=3, ts=NOW
    )
    kind = type_name(model)
    assert routing.conversation_key(7, 3, kind) == routing.event_key(cast(events.Routed, event))


# -- no second list ----------------------------------------------------------------------------


def hand_kept_lists(source: str, names: frozenset[str]) -> list[int]:
    """Lines of the set, list, tuple, dict or `case a | b` displays naming two or more of
    `names`: a list of event types kept by hand, which the next new event would miss."""
    found = []
    for node in ast.walk(ast.parse(source)):
        items: list[ast.expr | ast.pattern | None]
        if isinstance(node, ast.Set | ast.List | ast.Tuple):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        elif isinstance(node, ast.MatchOr):
            items = [p.value for p in node.patterns if isinstance(p, ast.MatchValue)]
        else:
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
        if len(named) >= 2:
            found.append(node.lineno)
    return found


@pytest.mark.parametrize(
    "source",
    [
        'ROUTED = {"typing", "agent_status"}',
        'def f(kind: str) -> bool:\n    return kind in ("new_message", "message_read")',
        'Kind = Literal["typing", "presence_state"]',
        'HANDLERS = {"new_message": 1, "typing": 2}',
        'match kind:\n    case "typing" | "agent_status":\n        pass',
    ],
)
def test_the_scan_finds_a_hand_kept_list(source: str) -> None:
    assert len(hand_kept_lists(source, EVENT_TYPES)) == 1


def test_the_scan_lets_one_name_pass() -> None:
    assert hand_kept_lists('if kind == "typing":\n    pass', EVENT_TYPES) == []


def test_no_product_module_keeps_its_own_list_of_event_types() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for root in PRODUCT_ROOTS
        for path in sorted((ROOT / root).rglob("*.py"))
        for line in hand_kept_lists(path.read_text(), EVENT_TYPES)
    ]
    assert offenders == [], "derive it from livedesk.shared.events instead"


# -- the clients and the protocol description ----------------------------------------------------


def server_control_frames() -> set[str]:
    """The `type` of every control frame the gateway sends (its published frame models)."""
    return {
        get_args(model.model_fields["type"].annotation)[0]
        for model in get_args(frames.AnyServerFrame)
    }


def js_record_keys(name: str) -> set[str]:
    body = re.search(rf"const {name}\b[^=]*= \{{(.*?)\}};", JS_PROTOCOL.read_text(), re.DOTALL)
    assert body is not None, f"{name} not found in {JS_PROTOCOL.name}"
    return set(re.findall(r"^\s*(\w+): true,", body.group(1), re.MULTILINE))


def test_the_python_client_tells_control_frames_from_events() -> None:
    # Anything not a control frame is an event to it, so a new event needs no client release.
    assert server_control_frames() == client_frames.CONTROL_TYPES
    assert not client_frames.CONTROL_TYPES & EVENT_TYPES


def test_the_js_client_knows_every_event_and_frame() -> None:
    persistent = js_record_keys("PERSISTENT_TYPES")
    assert persistent == events.PERSISTENT_TYPES  # it tracks offsets of exactly these
    known = persistent | js_record_keys("KNOWN_TYPES")
    assert known == EVENT_TYPES | server_control_frames()


def test_the_protocol_description_names_every_event_and_frame() -> None:
    design = DESIGN.read_text()
    missing = {kind for kind in EVENT_TYPES | server_control_frames() if f"`{kind}`" not in design}
    assert missing == set()
