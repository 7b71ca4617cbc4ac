"""Replay: the caller's account events after an offset, in offset order, as sockets get them.

`GET /v1/events?after=N&limit=M` answers `{"events": [...], "latest_offset": L}`, where each
event is the stored bytes of `events.encode` (spliced in, never re-encoded) and L is the
account's last offset in the same snapshot. An `after` older than the retained log answers
410 `resync_required`: the client reloads its state over REST. Unpublished events are
included: replay reads the log, not the broker.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Caller, Context
from livedesk.api.errors import ApiError, documented
from livedesk.api.fields import Offset
from livedesk.api.models import AccountOffset, Event, EventRelay

router = APIRouter(tags=["events"])

MAX_REPLAY = 1000


@router.get(
    "/v1/events",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": '{"events": [<event>...], "latest_offset": <int>}',
        },
        **documented(401, 410, 422),
    },
)
async def replay(
    caller: Caller,
    context: Context,
    after: Annotated[Offset, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_REPLAY)] = 100,
) -> Response:
    account = caller.account_id
    async with context.store.snapshot() as connection:
        state = (
            await connection.execute(
                select(col(AccountOffset.last_offset), col(EventRelay.pruned_offset))
                .join(EventRelay, col(EventRelay.account_id) == col(AccountOffset.account_id))
                .where(col(AccountOffset.account_id) == account)
            )
        ).first()
        latest, pruned = (state[0], state[1]) if state else (0, 0)
        if after < pruned:
            raise ApiError(
                410,
                "resync_required",
                f"events through offset {pruned} are no longer kept; reload over REST "
                f"and resume from its offset",
            )
        payloads = (
            await connection.execute(
                select(col(Event.payload))
                .where(col(Event.account_id) == account, col(Event.offset) > after)
                .order_by(col(Event.offset))
                .limit(limit)
            )
        ).scalars()
        events = b",".join(bytes(payload) for payload in payloads)
    body = b'{"events":[%b],"latest_offset":%d}' % (events, latest)
    return Response(body, media_type="application/json")
