"""Schemathesis hooks for the API schema test (loaded through SCHEMATHESIS_HOOKS).

Cursors are opaque to clients, so the schema cannot say which strings are cursors; left to
itself schemathesis sends random text, which never decodes, and never tries a cursor that
does decode to something out of range (the 64-bit overflow that once answered 500). The
strategy for the `cursor` format makes cursors the way the API does, around numbers and
times across and beyond what the databases hold, beside plain garbage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import schemathesis
from hypothesis import strategies as st

from livedesk.api.queries import encode_cursor

_LIMIT = 2**64  # beyond the databases' signed 64 bits on both sides
_offsets = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
)
_zones: st.SearchStrategy[tzinfo | None] = st.none() | st.just(UTC) | _offsets.map(timezone)
_ids = st.integers(-_LIMIT, _LIMIT) | st.sampled_from([0, 1, 2**63 - 1, 2**63, -(2**63) - 1])
_moments = st.datetimes(timezones=_zones)  # years 1 to 9999, naive or at any offset

cursors = st.one_of(
    _ids.map(encode_cursor),  # messages, inboxes, contacts: after an id
    st.tuples(_moments.map(datetime.isoformat), _ids).map(lambda pair: encode_cursor(*pair)),
    st.text(max_size=40),
)

schemathesis.openapi.format("cursor", cursors)
