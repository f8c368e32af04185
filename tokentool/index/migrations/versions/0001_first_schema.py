"""The schema as it was before Alembic: what a pre-Alembic data folder is stamped at.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID = sa.String(36).with_variant(postgresql.UUID(as_uuid=False), "postgresql")
TIME = sa.Float(precision=53)
BOOL = sa.Boolean(create_constraint=False)


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("username", sa.Text, nullable=False, unique=True),
        sa.Column("created", TIME, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("root_key", sa.LargeBinary, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created", TIME, nullable=False),
        sa.UniqueConstraint("user_id", "description"),
    )
    op.create_table(
        "projects",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("normalized_name", sa.Text, nullable=False, unique=True),
        sa.Column("created", TIME, nullable=False),
        sa.Column("created_by", UUID, sa.ForeignKey("users.id")),
    )
    op.create_index("projects_by_creator", "projects", ["created_by", "created"])
    op.create_table(
        "roles",
        sa.Column("project_id", UUID, sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role_name", sa.Text, nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", UUID, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("canonical_version", sa.Text, nullable=False),
        sa.Column("packagetype", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("md5_digest", sa.Text, nullable=False),
        sa.Column("sha256_digest", sa.Text, nullable=False),
        sa.Column("blake2_256_digest", sa.Text, nullable=False, unique=True),
        sa.Column("uploaded", TIME, nullable=False),
        sa.Column("uploaded_by", UUID, sa.ForeignKey("users.id")),
        sa.Column("python_version", sa.Text),
        sa.Column("metadata_sha256", sa.Text),
        sa.Column("metadata_blake2_256", sa.Text),
    )
    op.create_index("files_by_release", "files", ["project_id", "canonical_version", "packagetype"])
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", UUID, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("canonical_version", sa.Text, nullable=False),
        sa.Column("requires_python", sa.Text),
        sa.Column("is_prerelease", BOOL, nullable=False),
        sa.Column("info", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created", TIME, nullable=False),
        sa.UniqueConstraint("project_id", "canonical_version"),
    )
    op.create_table(
        "file_metadata",
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "token_caveats",
        sa.Column(
            "token_id", UUID, sa.ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("caveat", sa.Text, nullable=False),
    )
    op.create_table(
        "user_standing",
        sa.Column("user_id", UUID, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("email_verified", BOOL, nullable=False),
        sa.Column("two_factor", BOOL, nullable=False),
    )
    op.create_table(
        "deleted_filenames",
        sa.Column("filename", sa.Text, primary_key=True),
        sa.Column("deleted", TIME, nullable=False),
    )
    op.create_table(
        "project_creations",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("project_creations_by_user", "project_creations", ["user_id", "at"])
