"""Taking access away: disable and enable an agent, end all their sessions, set a password.

All are the admin's, on agents of the admin's own account (another account's agent is not
found, as everywhere), but one: an agent changes their own password, giving the current one.
Whatever ends sessions is in the database before the answer, and announced to the gateways
(`revocation`), which close the sockets with 4401. A role is changed with PATCH
/v1/agents/{id} and is in force from the agent's next refresh (at most one access token's
life). An admin cannot disable themselves: an account could be left with no admin.

Not here: the agent records themselves (routes.agents), logging in and out (auth, sessions).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Admin, Caller, Context
from livedesk.api.errors import documented, forbidden, not_found
from livedesk.api.fields import Id
from livedesk.api.models import User
from livedesk.api.schemas import AgentOut, PasswordChange
from livedesk.shared.tokens import Claims, Role

router = APIRouter(prefix="/v1/agents/{agent_id}", tags=["agents"], responses=documented(401, 422))

AgentId = Annotated[Id, Path()]


@router.post("/disable", responses=documented(403, 404, 503))
async def disable_agent(agent_id: AgentId, caller: Admin, context: Context) -> AgentOut:
    """No login or refresh from now on; every session revoked, every socket closed."""
    if agent_id == caller.user_id:
        raise forbidden("an admin cannot disable themselves")
    agent, revoked = await context.store.set_disabled(caller.account_id, agent_id, True)
    await context.revoker.announce(revoked, every_session=True)
    return agent


@router.post("/enable", responses=documented(403, 404))
async def enable_agent(agent_id: AgentId, caller: Admin, context: Context) -> AgentOut:
    """May log in again; the sessions revoked by disabling stay revoked."""
    agent, _ = await context.store.set_disabled(caller.account_id, agent_id, False)
    return agent


@router.post("/sessions/revoke", status_code=204, responses=documented(403, 404, 503))
async def revoke_sessions(agent_id: AgentId, caller: Admin, context: Context) -> None:
    """End every session of the agent (the admin's own included, if it is the admin)."""
    revoked = await context.store.revoke_sessions(caller.account_id, agent_id)
    await context.revoker.announce(revoked, every_session=True)


@router.put("/password", status_code=204, responses=documented(403, 404, 503))
async def set_password(
    agent_id: AgentId, body: PasswordChange, caller: Caller, context: Context
) -> None:
    """Your own, with `current_password`: your other sessions end, this one stays. Another
    agent's (admin: a reset, without it): every session of theirs ends."""
    own = agent_id == caller.user_id
    if own:
        await _check_current_password(caller, body, context)
    elif caller.role is not Role.ADMIN:
        raise forbidden("only an admin may set another agent's password")
    password_hash = await context.passwords.hash(body.password)
    keep = (caller.session_id,) if own and caller.session_id is not None else ()
    revoked = await context.store.set_password(caller.account_id, agent_id, password_hash, keep)
    await context.revoker.announce(revoked, every_session=not own)


async def _check_current_password(caller: Claims, body: PasswordChange, context: Context) -> None:
    if body.current_password is None:
        raise forbidden("changing your own password needs current_password")
    async with context.engine.connect() as connection:
        stored = (
            await connection.execute(
                select(col(User.password_hash)).where(
                    col(User.id) == caller.user_id, col(User.account_id) == caller.account_id
                )
            )
        ).scalar_one_or_none()
    if stored is None:
        raise not_found("agent", caller.user_id)
    if not await context.passwords.verify(stored, body.current_password):
        raise forbidden("the current password is wrong")
