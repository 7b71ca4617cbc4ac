"""The OpenAPI document as FastAPI makes it, with integer bounds kept exact.

FastAPI passes the document through its own models, which hold `minimum` and `maximum` as
floats: a body's `Id` then said 9.223372036854776e18, which is 2**63, one more than either
database can hold, so a client (or schemathesis) taking the document at its word was
refused. Parameters keep their bounds; only the components' schemas lose them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livedesk.api.fields import MAX_ID

_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def with_exact_bounds(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """`generate` (FastAPI's `app.openapi`), its integral float bounds made integers again."""

    def openapi() -> dict[str, Any]:
        document = generate()
        _restore(document)  # in place, on FastAPI's cached document; a second pass is a no-op
        return document

    return openapi


def _restore(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                # float(MAX_ID) rounds up to 2**63: the one bound a float cannot spell.
                node[key] = MAX_ID if value == float(MAX_ID) else int(value)
            else:
                _restore(value)
    elif isinstance(node, list):
        for item in node:
            _restore(item)


def next_page(path: str, *path_parameters: str) -> dict[int | str, dict[str, Any]]:
    """The `responses` entry of a list operation: an OpenAPI link from a page to the next
    one (its `next_cursor` as `cursor`), so tools that follow links walk real pages."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    parameters = {name: f"$request.path.{name}" for name in path_parameters}
    return {
        200: {
            "links": {
                "next_page": {
                    "operationRef": f"#/paths/{pointer}/get",
                    "parameters": {**parameters, "cursor": "$response.body#/next_cursor"},
                    "description": "the page after this one, while next_cursor is not null",
                }
            }
        }
    }
