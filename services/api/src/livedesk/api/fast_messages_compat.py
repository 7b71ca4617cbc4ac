"""Whether what the fast message route (`fast_messages`) takes from FastAPI beyond its public
API is still there: checked once, at import.

The route answers POST /v1/conversations/{id}/messages before FastAPI does, and must answer
exactly as FastAPI's route would. It was checked against the FastAPI releases in
`TESTED_RELEASES`, which services/api/pyproject.toml declares as a compatible-release bound.
An install outside them, or one whose routing no longer names the route it matched in the
request's scope (what the request metrics label a request with, and what the fast route
sets for the posts it answers), gets `FAST_ROUTE_PROBLEM`, a sentence saying what differs,
and the API answers every post with the FastAPI route (`app.create_app`).

What no probe can show (FastAPI reading an application/json body with `json.loads` and
validating it with the route's model; HTTPBearer's reading of Authorization) rests on the
release bound and on the test that asks both routes the same requests
(tests/integration/test_api_message_routes.py). Why the route exists and when to delete it:
docs/adr/0003-fast-message-route.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi.routing import APIRoute

from livedesk.shared.library_check import Releases, installed_releases, release_problems

# Distribution -> (first release checked, first release not covered).
TESTED_RELEASES: Releases = {"fastapi": ((0, 165, 0), (0, 166))}


def unsupported(releases: Mapping[str, str | None], names_route: Callable[[], bool]) -> str | None:
    """What the fast route relies on and does not find (None: nothing is missing).

    `releases` by distribution name (None: not installed); `names_route`: whether routing
    names the matched route in the scope.
    """
    problems = list(release_problems(TESTED_RELEASES, releases))
    if not names_route():
        problems.append('FastAPI\'s routing no longer puts the matched route in scope["route"]')
    return "; ".join(problems) or None


def routing_names_the_route() -> bool:
    """Whether an APIRoute that matches a request puts itself in the scope as "route"."""

    async def endpoint() -> None:
        """A route to match against; never called."""

    route = APIRoute("/probe/{ident}", endpoint, methods=["POST"])
    _, child_scope = route.matches({"type": "http", "path": "/probe/1", "method": "POST"})
    return child_scope.get("route") is route


FAST_ROUTE_PROBLEM: str | None = unsupported(
    installed_releases(TESTED_RELEASES), routing_names_the_route
)
