"""snooze, and who changed a conversation last

Revision ID: 0005_snooze
Revises: 0004_inbox_search
Create Date: 2026-12-05

Conversations gain `snoozed_until` (when a snoozed conversation reopens by itself), indexed
for the wake-up's scan over the snoozed ones only, and the last change's author and fields
(`updated_by_id`, `last_changed`), which a refused PATCH reports. Existing rows keep nulls:
no snoozed conversation had a time before, so the wake-up leaves them as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0005_snooze"
down_revision = "0004_inbox_search"
branch_labels = None
depends_on = None

_SNOOZED = sa.text("snoozed_until IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updated_by_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("last_changed", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            "fk_conversations_updated_by_id_users", "users", ["updated_by_id"], ["id"]
        )
    op.create_index(
        "ix_conversations_snoozed_until",
        "conversations",
        ["snoozed_until"],
        postgresql_where=_SNOOZED,
        sqlite_where=_SNOOZED,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_snoozed_until", table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_constraint("fk_conversations_updated_by_id_users", type_="foreignkey")
        batch_op.drop_column("last_changed")
        batch_op.drop_column("updated_by_id")
        batch_op.drop_column("snoozed_until")
