"""e-mail unique per account

Revision ID: 0003_email_per_account
Revises: 0002_sessions
Create Date: 2026-12-05

A user's e-mail was unique across accounts, so adding an agent told an admin whether the
address was taken in another account. Now it is unique in its account, and indexed alone
for the login, which looks it up across accounts (docs/security.md).

The old constraint has no name of ours: PostgreSQL named it `users_email_key`; SQLite keeps
it unnamed, and the batch copy names it by the convention below so that it can be dropped.
"""

from __future__ import annotations

from alembic import op

revision = "0003_email_per_account"
down_revision = "0002_sessions"
branch_labels = None
depends_on = None

_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_constraint() -> str:
    return "uq_users_email" if op.get_bind().dialect.name == "sqlite" else "users_email_key"


def upgrade() -> None:
    with op.batch_alter_table("users", naming_convention=_NAMING) as batch_op:
        batch_op.drop_constraint(_old_constraint(), type_="unique")
        batch_op.create_unique_constraint("uq_users_account_email", ["account_id", "email"])
        batch_op.create_index("ix_users_email", ["email"], unique=False)


def downgrade() -> None:
    # Fails while an address belongs to users of two accounts: decide which keeps it first.
    with op.batch_alter_table("users", naming_convention=_NAMING) as batch_op:
        batch_op.drop_index("ix_users_email")
        batch_op.drop_constraint("uq_users_account_email", type_="unique")
        batch_op.create_unique_constraint(_old_constraint(), ["email"])
