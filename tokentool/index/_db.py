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
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
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
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL,
    canonical_version TEXT NOT NULL,
    requires_python TEXT,
    is_prerelease INTEGER NOT NULL DEFAULT 0,
    info TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    UNIQUE (project_id, canonical_version)
);
-- warehouse's ``release_descriptions``: a release's description apart from its other
-- metadata, so the JSON API can stream it (incremental BLOB I/O) instead of loading it.
CREATE TABLE IF NOT EXISTS release_descriptions (
    project_id TEXT NOT NULL,
    canonical_version TEXT NOT NULL,
    raw BLOB NOT NULL,
    PRIMARY KEY (project_id, canonical_version)
);
-- warehouse's ``journals``: every change to a project, in order. AUTOINCREMENT: an id
-- is never handed out twice, even after the newest entry's project is deleted, so
-- the serials derived from it (``last_serial``) only go up. ``name`` is the
-- project's normalized name (warehouse keeps the display name and a trigger).
CREATE TABLE IF NOT EXISTS journals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    version TEXT,
    action TEXT,
    submitted_date REAL NOT NULL,
    submitted_by TEXT
);
CREATE INDEX IF NOT EXISTS journals_name_id_idx ON journals (name, id);
CREATE TABLE IF NOT EXISTS token_caveats (
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    caveat TEXT NOT NULL,
    PRIMARY KEY (token_id, position)
);
CREATE TABLE IF NOT EXISTS user_standing (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    email_verified INTEGER NOT NULL,
    two_factor INTEGER NOT NULL
);
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
-- Failed web logins, per limiter (warehouse's "ip.login", "global.login", "user.login").
CREATE TABLE IF NOT EXISTS login_failures (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (scope, key, at);
"""

#: Columns added to ``files`` after the first schema (ALTER TABLE on older databases).
_FILE_COLUMNS = {
    "python_version": "TEXT",
    "metadata_sha256": "TEXT",
    "metadata_blake2_256": "TEXT",
}

#: Columns added for the web face (tokentool/index/web): the user's argon2 password hash
#: and when it was set (sessions from before it end), and when each token last uploaded.
_ADDED_COLUMNS = {
    "users": {"password_hash": "TEXT", "password_date": "REAL"},
    "tokens": {"last_used": "REAL"},
    # warehouse's Release.yanked / yanked_reason (``tokentool index yank``)
    "releases": {"yanked": "INTEGER NOT NULL DEFAULT 0", "yanked_reason": "TEXT"},
}

#: Releases for files recorded before the releases table existed (no metadata then).
_BACKFILL_RELEASES = """
INSERT OR IGNORE INTO releases (project_id, version, canonical_version, created)
SELECT project_id, min(version), canonical_version, min(uploaded) FROM files
GROUP BY project_id, canonical_version
"""


#: Journal entries for files recorded before the journal existed: their ids kept.
_BACKFILL_JOURNALS = """
INSERT INTO journals (id, name, version, action, submitted_date)
SELECT f.id, p.normalized_name, f.version, 'add file ' || f.filename, f.uploaded
FROM files f JOIN projects p ON p.id = f.project_id
"""


@dataclasses.dataclass(frozen=True)
class TokenRow:
    id: str
    user_id: str
    username: str
    root_key: bytes = dataclasses.field(repr=False)
    #: The caveats stored at mint (warehouse's ``Macaroon.caveats``), serialized.
    caveats: tuple[str, ...] = ()
    #: The user's standing (no row in ``user_standing``: verified, with 2FA).
    email_verified: bool = True
    two_factor: bool = True


@dataclasses.dataclass(frozen=True)
class WebUser:
    id: str
    username: str
    password_hash: str | None = dataclasses.field(repr=False)
    #: When the password was last set (0: never): a session from before it is over.
    password_date: float
    email_verified: bool


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    id: str
    description: str
    scope: str
    created: float
    last_used: float | None


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
    python_version: str | None = None
    #: The digests of the wheel's METADATA (PEP 658), whose file lies beside the wheel.
    metadata_hashes: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class NewRelease:
    """What the first file of a release records about it (warehouse's Release row)."""

    project_id: str
    version: str
    canonical_version: str
    requires_python: str | None
    is_prerelease: bool
    info: str  # JSON: the metadata fields of warehouse's JSON API ``info``
    #: The description, UTF-8 (``release_descriptions``; not in ``info``).
    description: bytes = b""


@dataclasses.dataclass(frozen=True)
class ServedFile:
    """One file as the index pages show it: everything comes from its row, nothing re-read."""

    id: int
    project_id: str
    filename: str
    version: str
    packagetype: str
    python_version: str | None
    size: int
    md5_digest: str
    sha256_digest: str
    blake2_256_digest: str
    uploaded: float
    requires_python: str | None
    metadata_sha256: str | None
    #: The release's: yanked, and why ("" when no reason was given).
    yanked: bool = False
    yanked_reason: str | None = None


class Database:
    """Thread-safe access: one connection per thread (sqlite3 objects are not shareable)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.packages_dir = self.data_dir / PACKAGES_DIR
        # The database holds every token's root key: only its owner may read what we
        # create. A folder that already exists keeps its permissions (it may be shared).
        make_private_dirs(self.data_dir)
        make_private_dirs(self.packages_dir)
        if not self.path.exists():
            self.path.touch(mode=0o600)
        self._local = threading.local()
        conn = self.connection()
        conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as tx:
            tx.executescript_in_tx(_SCHEMA)
            tx.migrate(self.packages_dir)

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

    def migrate(self, packages_dir: Path) -> None:
        """Bring a database made by an older stand-in up to this schema, in place."""
        present = {row[1] for row in self.conn.execute("PRAGMA table_info(files)")}
        missing = [c for c in _FILE_COLUMNS if c not in present]
        for column in missing:
            self.conn.execute(f"ALTER TABLE files ADD COLUMN {column} {_FILE_COLUMNS[column]}")
        if missing:  # files from before releases were recorded: one scan, once
            self.conn.execute(_BACKFILL_RELEASES)
        for table, columns in _ADDED_COLUMNS.items():
            present = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns.items():
                if column not in present:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        if self._one("SELECT 1 FROM journals LIMIT 1") is None:
            # Before the journal, a serial was the newest file's id: start from those.
            self.conn.execute(_BACKFILL_JOURNALS)
        if self._one("SELECT 1 FROM sqlite_master WHERE name = 'file_metadata'"):
            # Metadata files moved out of the rows, beside their wheels (PEP 658).
            rows = self.conn.execute(
                "SELECT f.filename, m.content FROM file_metadata m JOIN files f ON f.id = m.file_id"
            )
            for filename, content in rows:
                (packages_dir / (filename + ".metadata")).write_bytes(content)
            self.conn.execute("DROP TABLE file_metadata")

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

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.conn.execute(
            "UPDATE users SET password_hash = ?, password_date = ? WHERE id = ?",
            (password_hash, time.time(), user_id),
        )

    def web_user(
        self, *, username: str | None = None, user_id: str | None = None
    ) -> WebUser | None:
        """The account as the web face sees it, by name or (``user_id``) by ID."""
        row = self._one(
            "SELECT u.id, u.username, u.password_hash, coalesce(u.password_date, 0), "
            "coalesce(s.email_verified, 1) FROM users u "
            "LEFT JOIN user_standing s ON s.user_id = u.id "
            "WHERE (? IS NULL AND u.username = ?) OR u.id = ?",
            user_id,
            username,
            user_id,
        )
        if row is None:
            return None
        return WebUser(str(row[0]), str(row[1]), row[2], float(row[3]), bool(row[4]))

    # web logins: warehouse's moving-window rate limiters, kept in the database
    def login_failures(self, scope: str, key: str, since: float) -> tuple[int, float | None]:
        """(failures since ``since``, the oldest of them) for one limiter and key."""
        row = self._one(
            "SELECT count(*), min(at) FROM login_failures WHERE scope = ? AND key = ? AND at >= ?",
            scope,
            key,
            since,
        )
        return (int(row[0]), row[1]) if row else (0, None)

    def record_login_failure(self, scope: str, key: str, before: float) -> None:
        """Count one failure; hits older than ``before`` are out of every window: gone."""
        self.conn.execute(
            "DELETE FROM login_failures WHERE scope = ? AND key = ? AND at < ?",
            (scope, key, before),
        )
        self.conn.execute(
            "INSERT INTO login_failures (scope, key, at) VALUES (?, ?, ?)",
            (scope, key, time.time()),
        )

    # tokens
    def token(self, identifier: str) -> TokenRow | None:
        row = self._one(
            "SELECT t.id, t.user_id, u.username, t.root_key, "
            "coalesce(s.email_verified, 1), coalesce(s.two_factor, 1) FROM tokens t "
            "JOIN users u ON u.id = t.user_id "
            "LEFT JOIN user_standing s ON s.user_id = t.user_id WHERE t.id = ?",
            identifier,
        )
        if row is None:
            return None
        caveats = tuple(
            str(r[0])
            for r in self.conn.execute(
                "SELECT caveat FROM token_caveats WHERE token_id = ? ORDER BY position",
                (row[0],),
            )
        )
        return TokenRow(row[0], row[1], row[2], bytes(row[3]), caveats, bool(row[4]), bool(row[5]))

    def store_caveats(self, identifier: str, caveats: list[str]) -> None:
        self.conn.executemany(
            "INSERT INTO token_caveats (token_id, position, caveat) VALUES (?, ?, ?)",
            [(identifier, n, c) for n, c in enumerate(caveats)],
        )

    def set_standing(self, user_id: str, *, email_verified: bool, two_factor: bool) -> None:
        self.conn.execute(
            "INSERT INTO user_standing (user_id, email_verified, two_factor) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET email_verified = excluded.email_verified, "
            "two_factor = excluded.two_factor",
            (user_id, int(email_verified), int(two_factor)),
        )

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

    def user_tokens(self, user_id: str) -> list[TokenInfo]:
        """The account page's list: never the key, never the token."""
        return [
            TokenInfo(str(r[0]), str(r[1]), str(r[2]), float(r[3]), r[4])
            for r in self.conn.execute(
                "SELECT id, description, scope, created, last_used FROM tokens "
                "WHERE user_id = ? ORDER BY created",
                (user_id,),
            )
        ]

    def token_used(self, identifier: str) -> None:
        """warehouse's ``DatabaseMacaroonService.verify``: ``last_used`` on success."""
        self.conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (time.time(), identifier))

    def user_projects(self, user_id: str) -> list[ProjectRow]:
        """The projects the user has a role on, by normalized name."""
        return [
            ProjectRow(*r)
            for r in self.conn.execute(
                "SELECT p.id, p.name, p.normalized_name FROM projects p "
                "JOIN roles r ON r.project_id = p.id WHERE r.user_id = ? "
                "ORDER BY p.normalized_name",
                (user_id,),
            )
        ]

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
        metadata_sha256 = metadata_blake2 = None
        if f.metadata_hashes is not None:
            metadata_sha256 = f.metadata_hashes["sha256"]
            metadata_blake2 = f.metadata_hashes["blake2_256"]
        self.conn.execute(
            "INSERT INTO files (project_id, version, canonical_version, packagetype, filename, "
            "size, md5_digest, sha256_digest, blake2_256_digest, uploaded, uploaded_by, "
            "python_version, metadata_sha256, metadata_blake2_256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                f.python_version,
                metadata_sha256,
                metadata_blake2,
            ),
        )

    # releases
    def ensure_release(self, r: NewRelease) -> bool:
        """The first file of a release records its metadata; later files leave it as is.

        True when the release is new (warehouse's "new release" journal entry)."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO releases (project_id, version, canonical_version, "
            "requires_python, is_prerelease, info, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                r.project_id,
                r.version,
                r.canonical_version,
                r.requires_python,
                int(r.is_prerelease),
                r.info,
                time.time(),
            ),
        )
        if cursor.rowcount == 0:
            return False
        self.conn.execute(
            "INSERT OR REPLACE INTO release_descriptions (project_id, canonical_version, raw) "
            "VALUES (?, ?, ?)",
            (r.project_id, r.canonical_version, r.description),
        )
        return True

    def description(self, project_id: str, canonical_version: str) -> tuple[int, int] | None:
        """(rowid, size in bytes) of the release's stored description, if any."""
        row = self._one(
            "SELECT rowid, length(raw) FROM release_descriptions "
            "WHERE project_id = ? AND canonical_version = ?",
            project_id,
            canonical_version,
        )
        return None if row is None else (int(row[0]), int(row[1]))

    def description_text(self, project_id: str, canonical_version: str) -> str:
        """The whole description, for the one release page that renders it."""
        found = self.description(project_id, canonical_version)
        if found is None:
            return ""
        return b"".join(self.description_chunks(found[0])).decode("utf-8", "surrogatepass")

    def description_chunks(self, rowid: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        """The description's bytes in pieces (SQLite's incremental BLOB I/O): memory
        independent of its size."""
        with self.conn.blobopen("release_descriptions", "raw", rowid, readonly=True) as blob:
            while data := blob.read(chunk):
                yield data

    def journal(self, name: str, version: str | None, action: str, by: str | None) -> None:
        """One ``JournalEntry``: its id is the new serial of the project and the index."""
        self.conn.execute(
            "INSERT INTO journals (name, version, action, submitted_date, submitted_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, version, action, time.time(), by),
        )

    # serving: each query is answered from an index, whatever the number of projects
    def project_names(self) -> list[tuple[str, str]]:
        """(name, normalized name) of every project, by normalized name."""
        rows = self.conn.execute(
            "SELECT name, normalized_name FROM projects ORDER BY normalized_name"
        ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    def last_serial(self, project_id: str | None = None) -> int:
        """The newest journal entry's id (of the project): it never goes down."""
        if project_id is None:
            row = self._one("SELECT max(id) FROM journals")
        else:
            row = self._one(
                "SELECT max(j.id) FROM journals j JOIN projects p ON j.name = p.normalized_name "
                "WHERE p.id = ?",
                project_id,
            )
        return int(row[0]) if row and row[0] is not None else 0

    def served_files(
        self, project_id: str, canonical_version: str | None = None
    ) -> list[ServedFile]:
        sql = (
            "SELECT f.id, f.project_id, f.filename, r.version, f.packagetype, f.python_version, "
            "f.size, f.md5_digest, f.sha256_digest, f.blake2_256_digest, f.uploaded, "
            "r.requires_python, f.metadata_sha256, r.yanked, r.yanked_reason "
            "FROM files f JOIN releases r "
            "ON r.project_id = f.project_id AND r.canonical_version = f.canonical_version "
            "WHERE f.project_id = ?"
        )
        args: tuple[str, ...] = (project_id,)
        if canonical_version is not None:
            sql += " AND f.canonical_version = ?"
            args += (canonical_version,)
        return [
            ServedFile(*row[:-2], yanked=bool(row[-2]), yanked_reason=row[-1])
            for row in self.conn.execute(sql, args)
        ]

    def served_file(self, filename: str) -> tuple[ServedFile, str] | None:
        """A recorded file by name, with its project's normalized name."""
        row = self._one(
            "SELECT f.id, f.project_id, f.filename, f.version, f.packagetype, f.python_version, "
            "f.size, f.md5_digest, f.sha256_digest, f.blake2_256_digest, f.uploaded, "
            "NULL, f.metadata_sha256, p.normalized_name FROM files f "
            "JOIN projects p ON p.id = f.project_id WHERE f.filename = ?",
            filename,
        )
        return None if row is None else (ServedFile(*row[:-1]), str(row[-1]))

    def uploaders(self, project_id: str, canonical_version: str) -> dict[str, str]:
        """filename -> username of who uploaded it, for one release's page."""
        return {
            str(a): str(b)
            for a, b in self.conn.execute(
                "SELECT f.filename, u.username FROM files f JOIN users u ON u.id = f.uploaded_by "
                "WHERE f.project_id = ? AND f.canonical_version = ?",
                (project_id, canonical_version),
            )
        }

    def release_history(self, project_id: str) -> list[tuple[Any, ...]]:
        """Every release without its metadata, for the pages' release history:
        (version, canonical version, requires_python, is_prerelease, created, yanked,
        yanked reason)."""
        return [
            (str(a), str(b), c, bool(d), float(e), bool(f), g)
            for a, b, c, d, e, f, g in self.conn.execute(
                "SELECT version, canonical_version, requires_python, is_prerelease, created, "
                "yanked, yanked_reason FROM releases WHERE project_id = ?",
                (project_id,),
            )
        ]

    def release_info(self, project_id: str, canonical_version: str) -> str:
        """One release's recorded metadata (JSON), read only for the release a page shows."""
        row = self._one(
            "SELECT info FROM releases WHERE project_id = ? AND canonical_version = ?",
            project_id,
            canonical_version,
        )
        return "{}" if row is None else str(row[0])

    def releases(self, project_id: str) -> list[tuple[str, str, str | None, bool, str]]:
        """(version, canonical version, requires_python, is_prerelease, info JSON)."""
        return [
            (str(a), str(b), c, bool(d), str(e))
            for a, b, c, d, e in self.conn.execute(
                "SELECT version, canonical_version, requires_python, is_prerelease, info "
                "FROM releases WHERE project_id = ?",
                (project_id,),
            )
        ]

    def yanks(self, project_id: str) -> dict[str, str]:
        """canonical version -> yanked reason ("" for none), of the yanked releases only."""
        return {
            str(a): str(b or "")
            for a, b in self.conn.execute(
                "SELECT canonical_version, yanked_reason FROM releases "
                "WHERE project_id = ? AND yanked",
                (project_id,),
            )
        }

    def set_yanked(
        self, project_id: str, canonical_version: str, yanked: bool, reason: str | None
    ) -> bool:
        """Yank (with a reason) or un-yank one release; False if there is no such release."""
        cursor = self.conn.execute(
            "UPDATE releases SET yanked = ?, yanked_reason = ? "
            "WHERE project_id = ? AND canonical_version = ?",
            (int(yanked), reason if yanked else None, project_id, canonical_version),
        )
        return cursor.rowcount > 0

    def roles(self, project_id: str) -> list[tuple[str, str]]:
        """(role name, username) of every role on the project."""
        return [
            (str(a), str(b))
            for a, b in self.conn.execute(
                "SELECT r.role_name, u.username FROM roles r JOIN users u ON u.id = r.user_id "
                "WHERE r.project_id = ?",
                (project_id,),
            )
        ]

    def recorded_metadata(self) -> list[str]:
        """The recorded files that have a PEP 658 metadata file beside them."""
        return [
            str(r[0])
            for r in self.conn.execute(
                "SELECT filename FROM files WHERE metadata_sha256 IS NOT NULL"
            )
        ]

    def recorded_sizes(self) -> dict[str, int]:
        """Every recorded filename and its size: read once, when the server starts."""
        return {str(r[0]): int(r[1]) for r in self.conn.execute("SELECT filename, size FROM files")}

    # upload rules (tokentool.index.rules) and deletion
    def display_names(self) -> list[str]:
        """Every project's stored name: the "too similar" rule compares against them all."""
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

    def delete_release(self, project_id: str, canonical_version: str) -> None:
        """A release goes with its files (warehouse's release deletion)."""
        self.delete_files(self.files_of(project_id, canonical_version))
        for sql in (
            "DELETE FROM releases WHERE project_id = ? AND canonical_version = ?",
            "DELETE FROM release_descriptions WHERE project_id = ? AND canonical_version = ?",
        ):
            self.conn.execute(sql, (project_id, canonical_version))

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
        self.conn.execute("DELETE FROM releases WHERE project_id = ?", (project_id,))
        self.conn.execute("DELETE FROM release_descriptions WHERE project_id = ?", (project_id,))
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


def make_private_dirs(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by its owner only; leave existing ones be."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created meanwhile by another process: not ours to change
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
