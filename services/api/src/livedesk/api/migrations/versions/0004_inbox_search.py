"""inbox search: full-text indexes over messages and contacts; read pointers by conversation

Revision ID: 0004_inbox_search
Revises: 0003_email_per_account
Create Date: 2026-12-05

PostgreSQL: GIN indexes on expressions (the 'simple' configuration: no stemming, no stop
words, the same for every language), so the tables gain no column and a write no statement.
The store's search queries spell the same expressions (`store.pg_search`); an expression
that differs by a character is not served by its index. A contact's e-mail is indexed as
written and cut at "@" and ".", since the parser keeps a whole address as one word.

SQLite: FTS5 tables over the same columns (external content: the text stays in its table),
kept in step by triggers. A later migration that rebuilds `messages` or `contacts` by
batch copy drops these triggers with the old table, and must create them again.

Both: an index on read pointers by conversation, for "seen by".
"""

from __future__ import annotations

from alembic import op

revision = "0004_inbox_search"
down_revision = "0003_email_per_account"
branch_labels = None
depends_on = None

_PG_MESSAGES = "to_tsvector('simple'::regconfig, content)"
_PG_CONTACTS = (
    "to_tsvector('simple'::regconfig, name || ' ' || coalesce(email, '') || ' ' || "
    "translate(coalesce(email, ''), '@.', '  '))"
)

# name: (table, its searched columns)
_FTS = {"messages_fts": ("messages", ("content",)), "contacts_fts": ("contacts", ("name", "email"))}


def upgrade() -> None:
    op.create_index("ix_read_pointers_conversation_id", "read_pointers", ["conversation_id"])
    if op.get_bind().dialect.name == "sqlite":
        for name, (table, columns) in _FTS.items():
            _create_fts(name, table, columns)
        return
    op.execute(f"CREATE INDEX ix_messages_search ON messages USING gin ({_PG_MESSAGES})")
    op.execute(f"CREATE INDEX ix_contacts_search ON contacts USING gin ({_PG_CONTACTS})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, (table, _columns) in _FTS.items():
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_fts_{event}")
            op.execute(f"DROP TABLE {name}")
    else:
        op.drop_index("ix_contacts_search", "contacts")
        op.drop_index("ix_messages_search", "messages")
    op.drop_index("ix_read_pointers_conversation_id", "read_pointers")


def _create_fts(name: str, table: str, columns: tuple[str, ...]) -> None:
    listed = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    op.execute(
        f"CREATE VIRTUAL TABLE {name} USING fts5({listed}, content='{table}', content_rowid='id')"
    )
    add = f"INSERT INTO {name}(rowid, {listed}) VALUES (new.id, {new});"
    # External content: FTS5 removes a row's words given the text it indexed.
    remove = f"INSERT INTO {name}({name}, rowid, {listed}) VALUES ('delete', old.id, {old});"
    op.execute(f"CREATE TRIGGER {table}_fts_insert AFTER INSERT ON {table} BEGIN {add} END")
    op.execute(f"CREATE TRIGGER {table}_fts_delete AFTER DELETE ON {table} BEGIN {remove} END")
    op.execute(
        f"CREATE TRIGGER {table}_fts_update AFTER UPDATE OF {listed} ON {table} "
        f"BEGIN {remove} {add} END"
    )
    op.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")  # the rows already there
