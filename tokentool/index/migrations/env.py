"""Alembic's environment: run on the connection ``tokentool.index._migrate`` hands over.

That connection already holds the migration lock (and, on PostgreSQL, the
transaction every revision runs in), so concurrent processes never race to
upgrade one database.
"""

from __future__ import annotations

from alembic import context

from tokentool.index._schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters tables by copying them: ALTER ... in batch mode.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
