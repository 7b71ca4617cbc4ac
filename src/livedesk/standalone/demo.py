"""The demo account standalone mode creates on first start, through the API's own code.

The account and its admin come from `create_account` (as `livedesk bootstrap` does); the
agent, inbox, contact and first conversation go through the REST API in-process, so they
produce their events like any other write. Known e-mails, and a password the caller chooses
(random unless told, see `main.demo_password`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from livedesk.api.accounts import create_account
from livedesk.api.models import Account
from livedesk.api.passwords import Passwords

ACCOUNT: Final = "Demo Support"


@dataclass(frozen=True)
class Login:
    email: str
    role: str


ADMIN: Final = Login("admin@example.com", "admin")
AGENT: Final = Login("alice@example.com", "agent")
LOGINS: Final = (ADMIN, AGENT)


async def ensure_demo(
    engine: AsyncEngine, passwords: Passwords, api: httpx.AsyncClient, password: str
) -> bool:
    """Create the demo account, its logins with `password`, unless the database has an
    account already; say if it did."""
    async with engine.connect() as connection:
        if (await connection.execute(select(func.count()).select_from(Account))).scalar_one():
            return False
    await create_account(
        engine,
        passwords,
        name=ACCOUNT,
        email=ADMIN.email,
        password=password,
        admin_name="Ada Admin",
    )
    token = (await _post(api, "/v1/auth/token", {"email": ADMIN.email, "password": password}))[
        "access_token"
    ]
    api.headers["authorization"] = f"Bearer {token}"
    try:
        await _post(
            api,
            "/v1/agents",
            {"email": AGENT.email, "password": password, "name": "Alice Agent", "role": "agent"},
        )
        inbox = await _post(api, "/v1/inboxes", {"name": "Website chat"})
        contact = await _post(api, "/v1/contacts", {"name": "Jane Customer"})
        conversation = await _post(
            api, "/v1/conversations", {"inbox_id": inbox["id"], "contact_id": contact["id"]}
        )
        await _post(
            api,
            # The customer's first message, imported as the admin: agents write replies.
            f"/v1/conversations/{conversation['id']}/messages:import",
            {"content": "Hi! My order #1042 hasn't arrived yet.", "kind": "incoming"},
        )
    finally:
        del api.headers["authorization"]
    return True


async def _post(api: httpx.AsyncClient, path: str, body: dict[str, object]) -> dict[str, object]:
    response = await api.post(path, json=body)
    response.raise_for_status()
    payload: dict[str, object] = response.json()
    return payload
