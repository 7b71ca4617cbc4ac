"""contact details: phone and custom attributes

Revision ID: 0006_contact_details
Revises: 0005_snooze
Create Date: 2026-12-05

A contact panel shows more than a name and an address: a phone number, and the account's
own fields (plan, company, country...), kept as one JSON object per contact (JSONB on
PostgreSQL). Existing contacts get no phone and no attributes. An index serves the contact's
list of conversations, newest activity first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_contact_details"
down_revision = "0005_snooze"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # In place (SQLite adds and drops plain columns without copying the table): a copy
    # would lose the search triggers 0004_inbox_search put on contacts.
    with op.batch_alter_table("contacts", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("custom_attributes", _JSON, server_default=sa.text("'{}'"), nullable=False)
        )
    op.create_index(
        "ix_conversations_contact_activity",
        "conversations",
        ["contact_id", "last_activity_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_contact_activity", table_name="conversations")
    with op.batch_alter_table("contacts", recreate="never") as batch_op:
        batch_op.drop_column("custom_attributes")
        batch_op.drop_column("phone")
