"""The client frame models (frames.py), which the AsyncAPI document publishes, accept exactly
the frames `protocol.parse_frame` accepts, with the same values: the parser keeps its own
checks for their stable error codes, and this holds it to the published shape."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

from livedesk.gateway import frames, protocol
from livedesk.gateway.frames import MAX_ID

LIMIT = 64 * 1024
TYPES = ("auth", "subscribe", "unsubscribe", "typing", "ping")
FIELDS = ("ref", "token", "resume_from", "conversation_id", "state")

published: TypeAdapter[frames.AnyClientFrame] = TypeAdapter(
    Annotated[frames.AnyClientFrame, Field(discriminator="type")]
)

# Values on both sides of every bound the frames have, and of the wrong JSON types.
values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.integers(min_value=MAX_ID - 1, max_value=MAX_ID + 1)
    | st.integers(min_value=-MAX_ID - 1, max_value=-MAX_ID + 1)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["start", "stop", "", "t", "3"])
    | st.text(min_size=60, max_size=70)
    | st.text(max_size=8)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)


# A valid frame of each type, to start from.
VALID: dict[str, dict[str, Any]] = {
    "auth": {"token": "t", "resume_from": 0},
    "subscribe": {"conversation_id": 1},
    "unsubscribe": {"conversation_id": MAX_ID},
    "typing": {"conversation_id": 1, "state": "stop"},
    "ping": {},
}


@st.composite
def client_frames(draw: st.DrawFn) -> bytes:
    """A valid frame with up to two fields set to any value, added or removed."""
    kind = draw(st.sampled_from(TYPES))
    frame: dict[str, Any] = {"type": kind, **VALID[kind]}
    if draw(st.booleans()):
        frame["ref"] = draw(values)
    for field in draw(st.lists(st.sampled_from(("type", *FIELDS, "extra")), max_size=2)):
        if draw(st.booleans()):
            frame.pop(field, None)
        else:
            frame[field] = draw(values)
    return json.dumps(frame).encode()


@settings(max_examples=600, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(client_frames())
def test_the_parser_accepts_exactly_what_the_published_models_accept(raw: bytes) -> None:
    try:
        parsed = protocol.parse_frame(raw, LIMIT)
    except protocol.FrameError:
        parsed = None
    try:
        model = published.validate_json(raw)
    except ValidationError:
        model = None
    assert (parsed is None) == (model is None), (parsed, model)
    if parsed is not None and model is not None:
        assert dataclasses.asdict(parsed) == model.model_dump(exclude={"type"})


def test_each_client_frame_type_has_a_model() -> None:
    models = get_args(frames.AnyClientFrame)
    assert {get_args(m.model_fields["type"].annotation)[0] for m in models} == set(TYPES)
