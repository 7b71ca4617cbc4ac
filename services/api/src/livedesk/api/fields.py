"""The field types of request bodies and parameters, each with its rule and a JSON Schema
that says the same thing, so that /openapi.json describes exactly what is accepted.

- `Id`, `Offset`: what both databases can store (64-bit signed, so at most `MAX_ID`).
- `Name`, `Content`, `ClientId`, `SearchText`: text that PostgreSQL can hold (no NUL
  character), and for all but client ids, something besides white space. Names are stored
  stripped, content as written. "White space" is Python's (`str.isspace`), as is `\\s` in
  the schema's pattern.
- `EmailAddress`: the one address rule (`emails`).
- `Moment`: a time with its offset, stored in UTC (so it must have one there).
- `Cursor`: a page's `next_cursor`, given back as it came.
- `AssigneeFilter`: `me`, `none` or an agent's id.

Errors are raised as PydanticCustomError so that the 422 says the rule in plain words.
Not here: the models that use them (`schemas`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic import WithJsonSchema as JsonSchema
from pydantic_core import PydanticCustomError

from livedesk.api.emails import InvalidEmail, normalize_email
from livedesk.shared.events import MAX_CONTENT_CHARS

MAX_ID: Final = 2**63 - 1
MAX_NAME_CHARS: Final = 200
MAX_CLIENT_ID_CHARS: Final = 128
MAX_EMAIL_CHARS: Final = 320
MAX_SEARCH_CHARS: Final = 200

# The bounds written as integers: pydantic's own schema wrote 2**63 - 1 as the float
# 9.223372036854776e18, which is 2**63, a number the databases cannot hold.
Id = Annotated[
    int, Field(ge=1, le=MAX_ID), JsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID})
]
Offset = Annotated[
    int, Field(ge=0, le=MAX_ID), JsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ID})
]

# No NUL anywhere, and at least one character that is neither NUL nor white space.
_VISIBLE: Final = r"^[^\x00]*[^\s\x00][^\x00]*$"
_NO_NUL: Final = r"^[^\x00]+$"


def _visible(value: str) -> str:
    _refuse_nul(value)
    if not value.strip():
        raise PydanticCustomError("blank", "may not be empty or only white space")
    return value


def _refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "may not contain the NUL character (\\u0000)")
    return value


def _text_schema(pattern: str, max_chars: int) -> Any:
    return JsonSchema(
        {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": pattern}
    )


# The length limit applies to the text as sent; the stored name is stripped.
Name = Annotated[
    str,
    Field(max_length=MAX_NAME_CHARS),
    AfterValidator(_visible),
    AfterValidator(str.strip),
    _text_schema(_VISIBLE, MAX_NAME_CHARS),
]
Content = Annotated[
    str,
    Field(max_length=MAX_CONTENT_CHARS),
    AfterValidator(_visible),
    _text_schema(_VISIBLE, MAX_CONTENT_CHARS),
]
ClientId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS),
    AfterValidator(_refuse_nul),
    _text_schema(_NO_NUL, MAX_CLIENT_ID_CHARS),
]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("moment", "is outside the years 1 to 9999 in UTC") from None


# RFC 3339's date-time, the schema's `format`: pydantic alone also takes numbers and "0" as
# seconds since 1970, and a space for the T.
_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "moment", "must be a date and time with its UTC offset, as 2025-01-02T03:04:05Z"
        )
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidEmail as error:
        raise PydanticCustomError("email", str(error)) from None


EmailAddress = Annotated[
    str,
    Field(max_length=MAX_EMAIL_CHARS),
    AfterValidator(_email),
    JsonSchema({"type": "string", "format": "email", "maxLength": MAX_EMAIL_CHARS}),
]

# What a search box sends: some text besides white space, within reason for a query.
SearchText = Annotated[
    str,
    Field(max_length=MAX_SEARCH_CHARS),
    AfterValidator(_visible),
    _text_schema(_VISIBLE, MAX_SEARCH_CHARS),
]

# Opaque to clients. The format names the kind for tools that generate requests (the
# schemathesis test registers it): "cursor" is not one JSON Schema knows, so others ignore it.
Cursor = Annotated[
    str,
    JsonSchema(
        {
            "type": "string",
            "format": "cursor",
            "description": "the next_cursor of the previous page, as it was given",
        }
    ),
]

_id: Final = TypeAdapter(Id)


def _assignee(value: object) -> Literal["me", "none"] | int:
    if value == "me":
        return "me"
    if value == "none":
        return "none"
    try:
        return _id.validate_python(value)
    except ValidationError:
        raise PydanticCustomError(
            "assignee", "expected me, none or an agent's id (1 to {max})", {"max": MAX_ID}
        ) from None


AssigneeFilter = Annotated[
    Literal["me", "none"] | int,
    PlainValidator(_assignee),
    JsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": ["me", "none"]},
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            ]
        }
    ),
]
