"""Bring a database up to the current schema with Alembic, once, whoever starts first.

Every process runs ``upgrade`` when it opens the database; only one at a time
does the work (SQLite: its write lock; PostgreSQL: an advisory lock), and a
database already at the head costs one query. A SQLite file made before the
stand-in used Alembic (no ``alembic_version`` table) is first completed the way
the old code did (missing tables and columns, releases backfilled) and then
stamped at revision 0001, which describes exactly that schema.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

    from tokentool.index._db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
#: Held by the process bringing a PostgreSQL database up to date ("tokn" + 1).
MIGRATE_LOCK = 0x746F6B6F
#: The revision that describes the schema of pre-Alembic data folders.
FIRST = "0001"

#: The schema the stand-in created before Alembic (SQLite only), frozen here.
_PRE_ALEMBIC_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), root_key BLOB NOT NULL,
    description TEXT NOT NULL, scope TEXT NOT NULL, created REAL NOT NULL,
    UNIQUE (user_id, description));
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, normalized_name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL, created_by TEXT REFERENCES users(id));
CREATE INDEX IF NOT EXISTS projects_by_creator ON projects (created_by, created);
CREATE TABLE IF NOT EXISTS roles (
    project_id TEXT NOT NULL REFERENCES projects(id), user_id TEXT NOT NULL REFERENCES users(id),
    role_name TEXT NOT NULL, PRIMARY KEY (project_id, user_id));
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL, canonical_version TEXT NOT NULL, packagetype TEXT NOT NULL,
    filename TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, md5_digest TEXT NOT NULL,
    sha256_digest TEXT NOT NULL, blake2_256_digest TEXT NOT NULL UNIQUE, uploaded REAL NOT NULL,
    uploaded_by TEXT REFERENCES users(id));
CREATE INDEX IF NOT EXISTS files_by_release ON files (project_id, canonical_version, packagetype);
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL, canonical_version TEXT NOT NULL, requires_python TEXT,
    is_prerelease INTEGER NOT NULL DEFAULT 0, info TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL, UNIQUE (project_id, canonical_version));
CREATE TABLE IF NOT EXISTS file_metadata (
    file_id INTEGER PRIMARY KEY REFERENCES files(id), content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS token_caveats (
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE, position INTEGER NOT NULL,
    caveat TEXT NOT NULL, PRIMARY KEY (token_id, position));
CREATE TABLE IF NOT EXISTS user_standing (
    user_id TEXT PRIMARY KEY REFERENCES users(id), email_verified INTEGER NOT NULL,
    two_factor INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deleted_filenames (filename TEXT PRIMARY KEY, deleted REAL NOT NULL);
CREATE TABLE IF NOT EXISTS project_creations (user_id TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS project_creations_by_user ON project_creations (user_id, at)
"""
#: Columns the pre-Alembic code added to ``files`` with ALTER TABLE.
_PRE_ALEMBIC_FILE_COLUMNS = ("python_version", "metadata_sha256", "metadata_blake2_256")
#: Releases for files recorded before the releases table existed (no metadata then).
_BACKFILL_RELEASES = """
INSERT OR IGNORE INTO releases (project_id, version, canonical_version, created)
SELECT project_id, min(version), canonical_version, min(uploaded) FROM files
GROUP BY project_id, canonical_version
"""


def config(connection: sa.Connection, packages_dir: Path | None = None) -> Config:
    """``packages_dir``: where package files live (None: in the database's
    ``file_chunks``), for revisions that move files (0004)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["packages_dir"] = packages_dir
    return cfg


@functools.cache
def head() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    current = script.get_current_head()
    assert current is not None
    return current


def current_revision(connection: sa.Connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(db: Database, packages_dir: Path | None) -> None:
    """Upgrade to the head revision, holding the migration lock; a no-op when current."""
    target = head()
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATE_LOCK)))
        current = current_revision(conn)
        if current == target:
            conn.rollback()
            return
        from alembic import command

        cfg = config(conn, packages_dir)
        if current is None and db.is_sqlite and sa.inspect(conn).has_table("files"):
            _complete_pre_alembic(conn)
            command.stamp(cfg, FIRST)
        command.upgrade(cfg, "head")
        conn.commit()
        if db.is_sqlite:
            # The upgrade wrote about the whole schema into the write-ahead log: give
            # that space back now rather than keep a log as large as the database.
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _complete_pre_alembic(conn: sa.Connection) -> None:
    """What the stand-in did at each start before Alembic: the schema of revision 0001."""
    for statement in _PRE_ALEMBIC_SCHEMA.split(";"):
        conn.exec_driver_sql(statement)
    present = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(files)")}
    missing = [c for c in _PRE_ALEMBIC_FILE_COLUMNS if c not in present]
    for column in missing:
        conn.exec_driver_sql(f"ALTER TABLE files ADD COLUMN {column} TEXT")
    if missing:  # files from before releases were recorded: one scan, once
        conn.exec_driver_sql(_BACKFILL_RELEASES)
