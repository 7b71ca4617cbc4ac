"""Alembic's environment: runs on the connection `livedesk.api.migrate` hands it.

The caller owns the engine (async, either dialect) and passes a synchronous connection in
`config.attributes["connection"]`; nothing here reads a URL or builds an engine.
"""

from __future__ import annotations

from alembic import context

from livedesk.api.models import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it: batch mode makes later migrations portable.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
