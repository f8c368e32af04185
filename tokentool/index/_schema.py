"""The stand-in's tables, one definition for SQLite and PostgreSQL (SQLAlchemy Core).

Every query in ``_db.py`` is built from these ``Table`` objects, and every
change to them is one Alembic revision in ``migrations/versions`` (warehouse's
way): add a column or a table here, then a revision that creates it. Types
that differ per backend are declared once below: identifiers are PostgreSQL
``uuid`` columns (as warehouse's), so PostgreSQL itself parses a token
identifier, and text on SQLite, where existing folders stored them so.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: A UUID as its canonical text: ``uuid`` on PostgreSQL (it parses what is compared
#: with it, as warehouse's queries do), text on SQLite.
UUID = sa.String(36).with_variant(postgresql.UUID(as_uuid=False), "postgresql")
#: Seconds since the epoch (``time.time()``), as the first schema stored them.
TIME = sa.Float(precision=53)

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("created", TIME, nullable=False),
    # The web face: the argon2 password hash, and when it was set (older sessions end).
    sa.Column("password_hash", sa.Text),
    sa.Column("password_date", TIME),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("user_id", UUID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("root_key", sa.LargeBinary, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("created", TIME, nullable=False),
    sa.Column("last_used", TIME),  # warehouse's Macaroon.last_used
    sa.UniqueConstraint("user_id", "description"),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("normalized_name", sa.Text, nullable=False, unique=True),
    sa.Column("created", TIME, nullable=False),
    sa.Column("created_by", UUID, sa.ForeignKey("users.id")),
    sa.Index("projects_by_creator", "created_by", "created"),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("project_id", UUID, sa.ForeignKey("projects.id"), primary_key=True),
    sa.Column("user_id", UUID, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role_name", sa.Text, nullable=False),
)

files = sa.Table(
    "files",
    metadata,
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
    sa.Index("files_by_release", "project_id", "canonical_version", "packagetype"),
)

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", UUID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("canonical_version", sa.Text, nullable=False),
    sa.Column("requires_python", sa.Text),
    sa.Column("is_prerelease", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("info", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created", TIME, nullable=False),
    # warehouse's Release.yanked / yanked_reason (``tokentool index yank``)
    sa.Column(
        "yanked", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()
    ),
    sa.Column("yanked_reason", sa.Text),
    sa.UniqueConstraint("project_id", "canonical_version"),
)

#: warehouse's ``release_descriptions``: a release's description apart from its other
#: metadata (``releases.info``), so the JSON API streams it in pieces instead of loading it.
release_descriptions = sa.Table(
    "release_descriptions",
    metadata,
    sa.Column("project_id", UUID, primary_key=True),
    sa.Column("canonical_version", sa.Text, primary_key=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)

#: warehouse's ``journals``: every change to a project, in order; the newest id is the
#: serial of the index and of its project (``X-PyPI-Last-Serial``). ``name`` is the
#: project's normalized name. Ids are never handed out twice (SQLite: AUTOINCREMENT;
#: PostgreSQL: a sequence), and are taken under a site-wide lock held to the commit
#: (``Tx.journal``), so a reader never sees a serial below one it has seen appear.
journals = sa.Table(
    "journals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text),
    sa.Column("version", sa.Text),
    sa.Column("action", sa.Text),
    sa.Column("submitted_date", TIME, nullable=False),
    sa.Column("submitted_by", sa.Text),
    sa.Index("journals_name_id_idx", "name", "id"),
    sqlite_autoincrement=True,
)

token_caveats = sa.Table(
    "token_caveats",
    metadata,
    sa.Column("token_id", UUID, sa.ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("caveat", sa.Text, nullable=False),
)

user_standing = sa.Table(
    "user_standing",
    metadata,
    sa.Column("user_id", UUID, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("email_verified", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("two_factor", sa.Boolean(create_constraint=False), nullable=False),
)

#: Names of deleted files: never accepted again (warehouse's Filename log).
deleted_filenames = sa.Table(
    "deleted_filenames",
    metadata,
    sa.Column("filename", sa.Text, primary_key=True),
    sa.Column("deleted", TIME, nullable=False),
)

#: New-project rate-limit hits, which outlive the uploads that rolled back.
project_creations = sa.Table(
    "project_creations",
    metadata,
    sa.Column("user_id", UUID, nullable=False),
    sa.Column("at", TIME, nullable=False),
    sa.Index("project_creations_by_user", "user_id", "at"),
)

#: Package files kept in the database (PostgreSQL without a shared ``--data-dir``):
#: each file in 1 MiB rows, written and read one row at a time, never whole in memory.
#: Inserted in the transaction that records the file, so they commit or vanish with it.
file_chunks = sa.Table(
    "file_chunks",
    metadata,
    sa.Column("filename", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

#: Failed web logins, per limiter (warehouse's "ip.login", "global.login", "user.login").
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("at", TIME, nullable=False),
    sa.Index("login_failures_by_key", "scope", "key", "at"),
)
