"""The web face (password hash and date, token last use, failed logins) and yanks.

Revision ID: 0003
Revises: 0002

Data folders used between the web face's arrival and Alembic's got these
columns and the table from the stand-in's start-up code, before any
``alembic_version``: what exists already is left as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.Float(precision=53)

COLUMNS = {
    "users": [sa.Column("password_hash", sa.Text), sa.Column("password_date", TIME)],
    "tokens": [sa.Column("last_used", TIME)],
    "releases": [
        sa.Column(
            "yanked", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()
        ),
        sa.Column("yanked_reason", sa.Text),
    ],
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        for column in columns:
            if column.name not in present:
                op.add_column(table, column)
    if not inspector.has_table("login_failures"):
        op.create_table(
            "login_failures",
            sa.Column("scope", sa.Text, nullable=False),
            sa.Column("key", sa.Text, nullable=False),
            sa.Column("at", TIME, nullable=False),
        )
        op.create_index("login_failures_by_key", "login_failures", ["scope", "key", "at"])
