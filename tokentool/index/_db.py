"""The stand-in's state: users, tokens, projects, roles and uploaded files in SQLite.

One database file beside the package folder. WAL mode lets the simple index and
the CLI (``tokentool index mint`` while a server runs) read while an upload
writes; every upload that changes anything does so in one ``BEGIN IMMEDIATE``
transaction, so concurrent uploads serialize their check-then-insert and a
refused upload leaves no row behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DB_NAME = "index.sqlite3"
PACKAGES_DIR = "packages"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    root_key BLOB NOT NULL,
    description TEXT NOT NULL,
    scope TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (user_id, description)
);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    normalized_name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    created_by TEXT REFERENCES users(id)
);
CREATE INDEX IF NOT EXISTS projects_by_creator ON projects (created_by, created);
CREATE TABLE IF NOT EXISTS roles (
    project_id TEXT NOT NULL REFERENCES projects(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role_name TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL,
    canonical_version TEXT NOT NULL,
    packagetype TEXT NOT NULL,
    filename TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    md5_digest TEXT NOT NULL,
    sha256_digest TEXT NOT NULL,
    blake2_256_digest TEXT NOT NULL UNIQUE,
    uploaded REAL NOT NULL,
    uploaded_by TEXT REFERENCES users(id)
);
CREATE INDEX IF NOT EXISTS files_by_release ON files (project_id, canonical_version, packagetype);
-- Names of deleted files: never accepted again (warehouse's Filename log).
CREATE TABLE IF NOT EXISTS deleted_filenames (
    filename TEXT PRIMARY KEY,
    deleted REAL NOT NULL
);
-- New-project rate-limit hits, which outlive the uploads that rolled back.
CREATE TABLE IF NOT EXISTS project_creations (
    user_id TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS project_creations_by_user ON project_creations (user_id, at);
"""


@dataclasses.dataclass(frozen=True)
class TokenRow:
    id: str
    user_id: str
    username: str
    root_key: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class ProjectRow:
    id: str
    name: str
    normalized_name: str


@dataclasses.dataclass(frozen=True)
class FileRow:
    filename: str
    sha256_digest: str
    blake2_256_digest: str


@dataclasses.dataclass(frozen=True)
class NewFile:
    project_id: str
    version: str
    canonical_version: str
    packagetype: str
    filename: str
    size: int
    md5_digest: str
    sha256_digest: str
    blake2_256_digest: str
    uploaded_by: str


class Database:
    """Thread-safe access: one connection per thread (sqlite3 objects are not shareable)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.packages_dir = self.data_dir / PACKAGES_DIR
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        # The database holds every token's root key: only its owner may read it.
        self.data_dir.chmod(0o700)
        if not self.path.exists():
            self.path.touch(mode=0o600)
        self._local = threading.local()
        conn = self.connection()
        conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as tx:
            tx.executescript_in_tx(_SCHEMA)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction; the write lock is taken at BEGIN so checks inside hold."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Tx(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # never leave the write lock held
                conn.execute("ROLLBACK")
            raise

    def reader(self) -> Tx:
        """Queries outside a transaction (each statement sees the latest commit)."""
        return Tx(self.connection())


class Tx:
    """The queries; bound to a connection, inside or outside a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def executescript_in_tx(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self.conn.execute(statement)

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.conn.execute(sql, args).fetchone()
        return row

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # users
    def user_id(self, username: str) -> str | None:
        row = self._one("SELECT id FROM users WHERE username = ?", username)
        return None if row is None else str(row[0])

    def ensure_user(self, username: str) -> str:
        existing = self.user_id(username)
        if existing is not None:
            return existing
        new_id = str(uuid.uuid4())
        self.conn.execute(
            "INSERT INTO users (id, username, created) VALUES (?, ?, ?)",
            (new_id, username, time.time()),
        )
        return new_id

    # tokens
    def token(self, identifier: str) -> TokenRow | None:
        row = self._one(
            "SELECT t.id, t.user_id, u.username, t.root_key FROM tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.id = ?",
            identifier,
        )
        return None if row is None else TokenRow(row[0], row[1], row[2], bytes(row[3]))

    def description_taken(self, user_id: str, description: str) -> bool:
        row = self._one(
            "SELECT 1 FROM tokens WHERE user_id = ? AND description = ?", user_id, description
        )
        return row is not None

    def add_token(
        self, identifier: str, user_id: str, root_key: bytes, description: str, scope: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO tokens (id, user_id, root_key, description, scope, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (identifier, user_id, root_key, description, scope, time.time()),
        )

    def delete_token(self, identifier: str) -> bool:
        return self.conn.execute("DELETE FROM tokens WHERE id = ?", (identifier,)).rowcount > 0

    # projects and roles
    def project(self, normalized_name: str) -> ProjectRow | None:
        row = self._one(
            "SELECT id, name, normalized_name FROM projects WHERE normalized_name = ?",
            normalized_name,
        )
        return None if row is None else ProjectRow(*row)

    def has_role(self, project_id: str, user_id: str) -> bool:
        row = self._one(
            "SELECT 1 FROM roles WHERE project_id = ? AND user_id = ?", project_id, user_id
        )
        return row is not None

    def projects_created_since(self, user_id: str, since: float) -> int:
        row = self._one(
            "SELECT count(*) FROM projects WHERE created_by = ? AND created >= ?", user_id, since
        )
        return int(row[0]) if row else 0

    def create_project(self, name: str, normalized_name: str, user_id: str) -> ProjectRow:
        project = ProjectRow(str(uuid.uuid4()), name, normalized_name)
        self.conn.execute(
            "INSERT INTO projects (id, name, normalized_name, created, created_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (project.id, name, normalized_name, time.time(), user_id),
        )
        self.conn.execute(
            "INSERT INTO roles (project_id, user_id, role_name) VALUES (?, ?, 'Owner')",
            (project.id, user_id),
        )
        return project

    # files
    def conflicting_file(self, filename: str, blake2_256: str) -> FileRow | None:
        row = self._one(
            "SELECT filename, sha256_digest, blake2_256_digest FROM files "
            "WHERE filename = ? OR blake2_256_digest = ? LIMIT 1",
            filename,
            blake2_256,
        )
        return None if row is None else FileRow(*row)

    def has_sdist(self, project_id: str, canonical_version: str) -> bool:
        row = self._one(
            "SELECT 1 FROM files WHERE project_id = ? AND canonical_version = ? "
            "AND packagetype = 'sdist'",
            project_id,
            canonical_version,
        )
        return row is not None

    def add_file(self, f: NewFile) -> None:
        self.conn.execute(
            "INSERT INTO files (project_id, version, canonical_version, packagetype, filename, "
            "size, md5_digest, sha256_digest, blake2_256_digest, uploaded, uploaded_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f.project_id,
                f.version,
                f.canonical_version,
                f.packagetype,
                f.filename,
                f.size,
                f.md5_digest,
                f.sha256_digest,
                f.blake2_256_digest,
                time.time(),
                f.uploaded_by,
            ),
        )

    # upload rules (tokentool.index.rules) and deletion
    def project_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM projects")]

    def rename_project(self, project_id: str, name: str) -> None:
        """The display name follows the latest upload's spelling (same normalized name)."""
        self.conn.execute("UPDATE projects SET name = ? WHERE id = ?", (name, project_id))

    def project_size(self, project_id: str) -> int:
        row = self._one("SELECT coalesce(sum(size), 0) FROM files WHERE project_id = ?", project_id)
        return int(row[0]) if row else 0

    def filename_deleted(self, filename: str) -> bool:
        return self._one("SELECT 1 FROM deleted_filenames WHERE filename = ?", filename) is not None

    def release_created(self, project_id: str, canonical_version: str) -> float | None:
        """When the release's first (still present) file came: the stand-in's release row."""
        row = self._one(
            "SELECT min(uploaded) FROM files WHERE project_id = ? AND canonical_version = ?",
            project_id,
            canonical_version,
        )
        return None if row is None or row[0] is None else float(row[0])

    def record_project_creation(self, user_id: str) -> None:
        self.conn.execute(
            "INSERT INTO project_creations (user_id, at) VALUES (?, ?)", (user_id, time.time())
        )

    def project_creations_since(self, user_id: str, since: float) -> int:
        row = self._one(
            "SELECT count(*) FROM project_creations WHERE user_id = ? AND at >= ?", user_id, since
        )
        return int(row[0]) if row else 0

    def files_of(
        self, project_id: str, canonical_version: str | None = None, filename: str | None = None
    ) -> list[str]:
        sql = "SELECT filename FROM files WHERE project_id = ?"
        args: list[Any] = [project_id]
        if canonical_version is not None:
            sql += " AND canonical_version = ?"
            args.append(canonical_version)
        if filename is not None:
            sql += " AND filename = ?"
            args.append(filename)
        return [r[0] for r in self.conn.execute(sql + " ORDER BY filename", args)]

    def delete_files(self, filenames: list[str]) -> None:
        """Forget the files; their names stay taken for good."""
        now = time.time()
        for name in filenames:
            self.conn.execute("DELETE FROM files WHERE filename = ?", (name,))
            self.conn.execute(
                "INSERT OR IGNORE INTO deleted_filenames (filename, deleted) VALUES (?, ?)",
                (name, now),
            )

    def delete_project(self, project_id: str) -> None:
        self.delete_files(self.files_of(project_id))
        self.conn.execute("DELETE FROM roles WHERE project_id = ?", (project_id,))
        self.conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

    # listing
    def listing(self) -> dict[str, Any]:
        """Everything an operator may see; never a key or a token."""
        users = [
            {"id": r[0], "username": r[1]}
            for r in self.conn.execute("SELECT id, username FROM users ORDER BY username")
        ]
        projects = []
        for pid, name, normalized in self.conn.execute(
            "SELECT id, name, normalized_name FROM projects ORDER BY normalized_name"
        ).fetchall():
            owners = [
                r[0]
                for r in self.conn.execute(
                    "SELECT u.username FROM roles r JOIN users u ON u.id = r.user_id "
                    "WHERE r.project_id = ? ORDER BY u.username",
                    (pid,),
                )
            ]
            files = [
                r[0]
                for r in self.conn.execute(
                    "SELECT filename FROM files WHERE project_id = ? ORDER BY filename", (pid,)
                )
            ]
            projects.append(
                {
                    "id": pid,
                    "name": name,
                    "normalized_name": normalized,
                    "owners": owners,
                    "files": files,
                }
            )
        tokens = [
            {"identifier": r[0], "user": r[1], "description": r[2], "scope": r[3]}
            for r in self.conn.execute(
                "SELECT t.id, u.username, t.description, t.scope FROM tokens t "
                "JOIN users u ON u.id = t.user_id ORDER BY u.username, t.created"
            )
        ]
        return {"users": users, "projects": projects, "tokens": tokens}


def temp_name(directory: Path, filename: str) -> Path:
    """A hidden name in the same folder: pypiserver skips dot-files, rename is atomic."""
    return directory / f".{filename}.{os.getpid()}.{threading.get_ident()}.part"
