"""Agents (the account's users): list, create (admin), read, and change role or availability.

An agent may change their own availability; roles, and other agents' availability, need
the admin role. An availability change is announced to presence after the commit.
Not here: logging in (routes.auth), and the writes (the store's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.deps import Admin, Caller, Context
from livedesk.api.errors import ApiError, documented, forbidden, not_found
from livedesk.api.fields import Id
from livedesk.api.models import User
from livedesk.api.queries import AGENT_COLUMNS, account_offset
from livedesk.api.schemas import AgentCreate, AgentOut, AgentPatch, Page
from livedesk.api.store.errors import AlreadyRegistered
from livedesk.shared.presence_messages import AgentAvailability
from livedesk.shared.tokens import Role

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=documented(401, 422))


@router.get("")
async def list_agents(caller: Caller, context: Context) -> Page[AgentOut]:
    async with context.store.snapshot() as connection:
        rows = await connection.execute(
            select(*AGENT_COLUMNS)
            .where(col(User.account_id) == caller.account_id)
            .order_by(col(User.id))
        )
        items = [AgentOut.model_validate(row._mapping) for row in rows]
        return Page(items=items, offset=await account_offset(connection, caller.account_id))


@router.get("/{agent_id}", responses=documented(404))
async def get_agent(agent_id: Annotated[Id, Path()], caller: Caller, context: Context) -> AgentOut:
    async with context.engine.connect() as connection:
        row = (
            await connection.execute(
                select(*AGENT_COLUMNS).where(
                    col(User.id) == agent_id, col(User.account_id) == caller.account_id
                )
            )
        ).first()
    if row is None:
        raise not_found("agent", agent_id)
    return AgentOut.model_validate(row._mapping)


@router.post("", status_code=201, responses=documented(403, 409, 413))
async def create_agent(body: AgentCreate, caller: Admin, context: Context) -> AgentOut:
    password_hash = await context.passwords.hash(body.password)
    try:
        return await context.store.create_agent(
            caller.account_id,
            email=body.email,
            name=body.name,
            password_hash=password_hash,
            role=body.role,
        )
    except AlreadyRegistered as error:
        raise ApiError(409, "conflict", str(error)) from None


@router.patch("/{agent_id}", responses=documented(403, 404, 413))
async def patch_agent(
    agent_id: Annotated[Id, Path()], body: AgentPatch, caller: Caller, context: Context
) -> AgentOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    own = agent_id == caller.user_id
    if caller.role is not Role.ADMIN and (not own or changes.keys() - {"availability", "name"}):
        raise forbidden("agents may change only their own name and availability")
    values = {key: getattr(value, "value", value) for key, value in changes.items()}
    agent = await context.store.patch_agent(caller.account_id, agent_id, values)
    if body.availability is not None:
        context.announcer.changed(
            AgentAvailability(
                account_id=agent.account_id, user_id=agent.id, availability=body.availability
            )
        )
    return agent
