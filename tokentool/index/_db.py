"""The stand-in's state: users, tokens, projects, roles and files, in SQLite or PostgreSQL.

One query code for both backends (SQLAlchemy Core over the tables of
``_schema.py``); schema changes are Alembic revisions (``migrations/``), as in
warehouse. SQLite (the default) is one file in ``--data-dir``; PostgreSQL
(``--database postgresql://...``, psycopg 3 behind SQLAlchemy's connection
pool) lets any number of processes on any number of machines serve one site.

Writes whose checks could contradict each other are serialized, whatever the
backend, so a check made inside a write transaction still holds at its
commit: SQLite takes its write lock at ``BEGIN IMMEDIATE`` (every write);
PostgreSQL takes transaction-scoped advisory locks (across processes and
machines) per project or user, under a site-wide lock that revocations,
deletions and the storage check at start take exclusively
(``Database.transaction``). Journal entries (the serials) are written last,
under one more site-wide lock held to the commit, so their ids are handed out
in commit order (``Tx.journal``). Reads never wait: each read statement sees
the latest commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tokentool.exceptions import TokenError
from tokentool.index import _schema as s
from tokentool.index._store import (
    METADATA_SUFFIX,
    ChunkStorage,
    FolderStorage,
    Storage,
    make_private_dirs,
)

__all__ = ["Database", "Tx", "make_private_dirs"]

DB_NAME = "index.sqlite3"
PACKAGES_DIR = "packages"
#: Uploads being received (``_store.Spool``), beside the package folder.
SPOOL_DIR = "spool"
#: The advisory lock every PostgreSQL write transaction holds ("tokn"; one site per database).
WRITE_LOCK = 0x746F6B6E
#: Held from a transaction's journal entries to its commit (PostgreSQL): see ``Tx.journal``.
JOURNAL_LOCK = 0x746F6B6A
#: The namespace of the per-name locks (two 32-bit keys: a space apart from the above).
SCOPED_LOCKS = 0x746F6B
#: How long a writer waits for the write lock before its request fails (SQLite: busy_timeout).
LOCK_WAIT_SECONDS = 60


class DatabaseURLError(TokenError):
    """``--database`` names something other than a PostgreSQL database."""


class DatabaseUnavailable(TokenError):
    """The database cannot be reached or opened (a clear line instead of a traceback)."""


def engine_url(url: str) -> sa.URL:
    """A ``postgresql://`` URL for psycopg 3 (what ``psql`` and libpq take, unchanged).

    ``env:NAME`` reads the URL from the environment variable NAME, so a password
    in it stays out of argv (libpq's PGPASSWORD and ~/.pgpass work as well).
    """
    if url.startswith("env:"):
        name = url[len("env:") :]
        if not os.environ.get(name):
            raise DatabaseURLError(f"--database {url}: the variable {name} is not set")
        url = os.environ[name]
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseURLError("--database: not a URL (e.g. postgresql://user@host/db)") from None
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in (
        "psycopg",
        "psycopg2",  # the dialect's default name when none is given
    ):
        raise DatabaseURLError(
            "--database takes a postgresql:// URL (without it: SQLite in --data-dir)"
        )
    return parsed.set(drivername="postgresql+psycopg")


def shown_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if url.startswith("env:"):
        return url
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(not a URL)"


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
    #: The digests of the wheel's METADATA (PEP 658), whose file is stored beside the
    #: wheel (``<filename>.metadata``, through ``Database.storage``).
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
class StoredDescription:
    """Where a release's description is, to be read in pieces (``Tx.description_chunks``)."""

    project_id: str
    canonical_version: str
    size: int
    #: SQLite's rowid (incremental BLOB reads); None on PostgreSQL (``substr`` of the bytea).
    rowid: int | None


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
    """The state of one site; thread-safe (a pool of connections, one per statement or
    transaction), and safe with other processes on the same database.

    ``url`` None: SQLite in ``data_dir``, package files in ``data_dir/packages``.
    ``url`` ``postgresql://...``: package files in ``data_dir/packages`` when a
    (shared) ``data_dir`` is given, else in the database.
    """

    def __init__(
        self, data_dir: Path | None = None, url: str | None = None, *, pool_size: int = 8
    ) -> None:
        from tokentool.index import _migrate

        self.data_dir = None if data_dir is None else Path(data_dir)
        self.packages_dir = None if self.data_dir is None else self.data_dir / PACKAGES_DIR
        if self.data_dir is not None:
            # The database holds every token's root key: only its owner may read what
            # we create. A folder that already exists keeps its permissions (it may
            # be shared).
            make_private_dirs(self.data_dir)
        if url is None:
            if self.data_dir is None:
                raise ValueError("SQLite needs a data folder")
            self.path: Path | None = self.data_dir / DB_NAME
            if not self.path.exists():
                self.path.touch(mode=0o600)
            self.engine = _sqlite_engine(self.path, pool_size)
            self.url = str(self.path)
        else:
            self.path = None
            self.engine = _postgresql_engine(engine_url(url), pool_size)
            self.url = shown_url(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # Reads outside a transaction: PostgreSQL in autocommit (no BEGIN/ROLLBACK
        # round trips); SQLite's driver runs in autocommit already (see _sqlite_engine).
        self._reads = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        try:
            _migrate.upgrade(self, self.packages_dir)
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise DatabaseUnavailable(f"cannot use the database {self.url}: {reason}") from None
        self.storage: Storage = (
            ChunkStorage(self)
            if self.data_dir is None or self.packages_dir is None
            else FolderStorage(self.packages_dir, self.data_dir / SPOOL_DIR)
        )

    def close(self) -> None:
        self.storage.close()
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(
        self, before_lock: Callable[[Tx], None] | None = None, *, scope: Sequence[str] = ()
    ) -> Iterator[Tx]:
        """A write transaction, serialized with every other write that could contradict
        its checks, from its start (after ``before_lock``, where lock-free work goes)
        to its end. Any exception rolls everything back, ``before_lock``'s writes too.

        ``scope``: the names the transaction's checks depend on (``project:NAME``,
        ``user:ID``). SQLite serializes every write whatever the scope. PostgreSQL
        serializes transactions sharing a name, and those without a scope with all
        others (a shared/exclusive advisory lock), so uploads to different projects
        commit in parallel, as on warehouse, while a revocation, a deletion or the
        storage check at start still sees no upload half-way.
        """
        with self.engine.connect() as conn:
            tx = Tx(self, conn)
            try:
                if self.is_sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    if before_lock is not None:
                        before_lock(tx)
                else:
                    if before_lock is not None:
                        before_lock(tx)
                    conn.execute(_pg_locks(scope))
                yield tx
                tx.write_journal()
            except BaseException:
                with contextlib.suppress(sa.exc.DBAPIError):  # the connection may be gone
                    conn.rollback()
                raise
            conn.commit()

    def reader(self) -> Tx:
        """Queries outside a transaction (each statement sees the latest commit)."""
        return Tx(self, None)

    @contextlib.contextmanager
    def read_connection(self) -> Iterator[sa.Connection]:
        with self._reads.connect() as conn:
            yield conn


def _pg_locks(scope: Sequence[str]) -> sa.Select[Any]:
    """One statement taking the transaction's advisory locks: the site-wide one (shared
    with a scope, exclusive without), then one per name, in a fixed order (no deadlock)."""
    if not scope:
        return sa.select(sa.func.pg_advisory_xact_lock(WRITE_LOCK))
    keys = sorted({_lock_key(name) for name in scope})
    locks = [sa.func.pg_advisory_xact_lock_shared(WRITE_LOCK)]
    locks += [sa.func.pg_advisory_xact_lock(SCOPED_LOCKS, key) for key in keys]
    return sa.select(*locks)


def _lock_key(name: str) -> int:
    """A name's 32-bit lock key (two names sharing one only wait for each other)."""
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _sqlite_engine(path: Path, pool_size: int) -> sa.Engine:
    engine = sa.create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": LOCK_WAIT_SECONDS, "check_same_thread": False},
        poolclass=sa.pool.QueuePool,
        pool_size=pool_size,
        max_overflow=2 * pool_size,
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling off: transactions are explicit
        # (BEGIN IMMEDIATE in Database.transaction), and reads see the latest commit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")  # readers alongside one writer
        cursor.execute(f"PRAGMA busy_timeout = {LOCK_WAIT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    return engine


def _postgresql_engine(url: sa.URL, pool_size: int) -> sa.Engine:
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=30,
        # A connection the server or a proxy dropped is noticed at its first use
        # (SQLAlchemy then discards the pool); recycling bounds how stale one gets.
        pool_recycle=1800,
        connect_args={
            "connect_timeout": 10,
            "application_name": "tokentool-index",
            # A writer waits for the write lock as long as SQLite's busy timeout; a
            # transaction whose process vanished (a machine lost, not just killed: that
            # closes the socket) cannot hold the lock longer than that either.
            "options": f"-c lock_timeout={LOCK_WAIT_SECONDS * 1000} "
            f"-c idle_in_transaction_session_timeout={LOCK_WAIT_SECONDS * 1000}",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    )


class Tx:
    """The queries; bound to a transaction's connection, or (reader) one per statement."""

    def __init__(self, db: Database, conn: sa.Connection | None) -> None:
        self.db = db
        self.conn = conn
        self._journal: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        if self.conn is not None:
            yield self.conn
        else:
            with self.db.read_connection() as conn:
                yield conn

    def _rows(self, statement: sa.Executable) -> list[sa.Row[Any]]:
        with self._connection() as conn:
            return list(conn.execute(statement).all())

    def _first(self, statement: sa.Executable) -> sa.Row[Any] | None:
        with self._connection() as conn:
            return conn.execute(statement).first()

    def _scalar(self, statement: sa.Executable) -> Any:
        with self._connection() as conn:
            return conn.execute(statement).scalar()

    def _run(self, statement: sa.Executable, params: Any = None) -> int:
        with self._connection() as conn:
            return int(conn.execute(statement, params).rowcount)

    def _upsert(self, table: sa.Table, values: dict[str, Any], keys: list[str]) -> None:
        """Insert, or on a conflict on ``keys`` update the other columns (both dialects)."""
        insert = _insert(self.db, table).values(**values)
        others = {k: insert.excluded[k] for k in values if k not in keys}
        self._run(insert.on_conflict_do_update(index_elements=keys, set_=others))

    def _insert_ignore(self, table: sa.Table, values: dict[str, Any], keys: list[str]) -> None:
        self._run(
            _insert(self.db, table).values(**values).on_conflict_do_nothing(index_elements=keys)
        )

    # meta
    def get_meta(self, key: str) -> str | None:
        value = self._scalar(sa.select(s.meta.c.value).where(s.meta.c.key == key))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        self._upsert(s.meta, {"key": key, "value": value}, ["key"])

    # users
    def user_id(self, username: str) -> str | None:
        value = self._scalar(sa.select(s.users.c.id).where(s.users.c.username == username))
        return None if value is None else str(value)

    def ensure_user(self, username: str) -> str:
        existing = self.user_id(username)
        if existing is not None:
            return existing
        new_id = str(uuid.uuid4())
        self._run(sa.insert(s.users).values(id=new_id, username=username, created=time.time()))
        return new_id

    def set_password(self, user_id: str, password_hash: str) -> None:
        u = s.users
        self._run(
            sa.update(u)
            .where(u.c.id == user_id)
            .values(password_hash=password_hash, password_date=time.time())
        )

    def web_user(
        self, *, username: str | None = None, user_id: str | None = None
    ) -> WebUser | None:
        """The account as the web face sees it, by name or (``user_id``) by ID."""
        u, st = s.users, s.user_standing
        query = sa.select(
            u.c.id,
            u.c.username,
            u.c.password_hash,
            sa.func.coalesce(u.c.password_date, 0),
            sa.func.coalesce(st.c.email_verified, sa.true()),
        ).outerjoin(st, st.c.user_id == u.c.id)
        if user_id is not None:
            query = query.where(u.c.id == _as_uuid(user_id))
        else:
            query = query.where(u.c.username == username)
        try:
            row = self._first(query)
        except sa.exc.DataError:  # not a uuid (a forged session): no such user
            return None
        if row is None:
            return None
        return WebUser(str(row[0]), str(row[1]), row[2], float(row[3]), bool(row[4]))

    # web logins: warehouse's moving-window rate limiters, kept in the database
    def login_failures(self, scope: str, key: str, since: float) -> tuple[int, float | None]:
        """(failures since ``since``, the oldest of them) for one limiter and key."""
        f = s.login_failures
        row = self._first(
            sa.select(sa.func.count(), sa.func.min(f.c.at)).where(
                f.c.scope == scope, f.c.key == key, f.c.at >= since
            )
        )
        return (int(row[0]), row[1]) if row else (0, None)

    def record_login_failure(self, scope: str, key: str, before: float) -> None:
        """Count one failure; hits older than ``before`` are out of every window: gone."""
        f = s.login_failures
        self._run(sa.delete(f).where(f.c.scope == scope, f.c.key == key, f.c.at < before))
        self._run(sa.insert(f).values(scope=scope, key=key, at=time.time()))

    # tokens
    def token(self, identifier: str) -> TokenRow | None:
        """The token's row and stored caveats, in one query (one round trip on PostgreSQL,
        where ``identifier`` is parsed by the server, as in warehouse: text it cannot
        parse as a uuid raises ``sqlalchemy.exc.DataError``)."""
        t, u, st, c = s.tokens, s.users, s.user_standing, s.token_caveats
        verified = sa.func.coalesce(st.c.email_verified, sa.true())
        two_factor = sa.func.coalesce(st.c.two_factor, sa.true())
        query = (
            sa.select(
                t.c.id, t.c.user_id, u.c.username, t.c.root_key, verified, two_factor, c.c.caveat
            )
            .join(u, u.c.id == t.c.user_id)
            .outerjoin(st, st.c.user_id == t.c.user_id)
            .outerjoin(c, c.c.token_id == t.c.id)
            .where(t.c.id == _as_uuid(identifier))
            .order_by(c.c.position)
        )
        rows = self._rows(query)
        if not rows:
            return None
        row = rows[0]
        caveats = tuple(str(r[6]) for r in rows if r[6] is not None)
        return TokenRow(
            str(row[0]), str(row[1]), row[2], bytes(row[3]), caveats, bool(row[4]), bool(row[5])
        )

    def token_exists(self, identifier: str) -> bool:
        """Still there (not revoked)? ``identifier`` as stored (canonical)."""
        return self._first(sa.select(1).where(s.tokens.c.id == identifier)) is not None

    def store_caveats(self, identifier: str, caveats: list[str]) -> None:
        if caveats:
            self._run(
                sa.insert(s.token_caveats),
                [
                    {"token_id": identifier, "position": n, "caveat": c}
                    for n, c in enumerate(caveats)
                ],
            )

    def set_standing(self, user_id: str, *, email_verified: bool, two_factor: bool) -> None:
        values = {"user_id": user_id, "email_verified": email_verified, "two_factor": two_factor}
        self._upsert(s.user_standing, values, ["user_id"])

    def description_taken(self, user_id: str, description: str) -> bool:
        t = s.tokens
        query = sa.select(1).where(t.c.user_id == user_id, t.c.description == description)
        return self._first(query) is not None

    def add_token(
        self, identifier: str, user_id: str, root_key: bytes, description: str, scope: str
    ) -> None:
        self._run(
            sa.insert(s.tokens).values(
                id=identifier,
                user_id=user_id,
                root_key=root_key,
                description=description,
                scope=scope,
                created=time.time(),
            )
        )

    def user_tokens(self, user_id: str) -> list[TokenInfo]:
        """The account page's list: never the key, never the token."""
        t = s.tokens
        query = (
            sa.select(t.c.id, t.c.description, t.c.scope, t.c.created, t.c.last_used)
            .where(t.c.user_id == user_id)
            .order_by(t.c.created)
        )
        return [
            TokenInfo(str(r[0]), str(r[1]), str(r[2]), float(r[3]), r[4]) for r in self._rows(query)
        ]

    def token_used(self, identifier: str) -> bool:
        """warehouse's ``DatabaseMacaroonService.verify``: ``last_used``, in the request's
        transaction, so only an upload that commits sets it (a duplicate's doomed one
        does not). ``SKIP LOCKED`` as warehouse: a concurrent upload with the same token
        is updating the row already, and waiting for it would serialize them.

        True: the row was there and is updated (so the token is not revoked); False:
        revoked, or (PostgreSQL) another transaction holds the row."""
        t = s.tokens
        row = sa.select(t.c.id).where(t.c.id == identifier).with_for_update(skip_locked=True)
        return self._run(sa.update(t).where(t.c.id.in_(row)).values(last_used=time.time())) > 0

    def user_projects(self, user_id: str) -> list[ProjectRow]:
        """The projects the user has a role on, by normalized name."""
        p, r = s.projects, s.roles
        query = (
            sa.select(p.c.id, p.c.name, p.c.normalized_name)
            .join(r, r.c.project_id == p.c.id)
            .where(r.c.user_id == user_id)
            .order_by(p.c.normalized_name)
        )
        return [ProjectRow(str(a), b, c) for a, b, c in self._rows(query)]

    def delete_token(self, identifier: str) -> bool:
        return self._run(sa.delete(s.tokens).where(s.tokens.c.id == identifier)) > 0

    # projects and roles
    def project(self, normalized_name: str) -> ProjectRow | None:
        p = s.projects
        row = self._first(
            sa.select(p.c.id, p.c.name, p.c.normalized_name).where(
                p.c.normalized_name == normalized_name
            )
        )
        return None if row is None else ProjectRow(str(row[0]), row[1], row[2])

    def has_role(self, project_id: str, user_id: str) -> bool:
        r = s.roles
        query = sa.select(1).where(r.c.project_id == project_id, r.c.user_id == user_id)
        return self._first(query) is not None

    def create_project(self, name: str, normalized_name: str, user_id: str) -> ProjectRow:
        project = ProjectRow(str(uuid.uuid4()), name, normalized_name)
        self._run(
            sa.insert(s.projects).values(
                id=project.id,
                name=name,
                normalized_name=normalized_name,
                created=time.time(),
                created_by=user_id,
            )
        )
        self._run(
            sa.insert(s.roles).values(project_id=project.id, user_id=user_id, role_name="Owner")
        )
        return project

    # files
    def conflicting_file(self, filename: str, blake2_256: str) -> FileRow | None:
        f = s.files
        row = self._first(
            sa.select(f.c.filename, f.c.sha256_digest, f.c.blake2_256_digest)
            .where(sa.or_(f.c.filename == filename, f.c.blake2_256_digest == blake2_256))
            .limit(1)
        )
        return None if row is None else FileRow(*row)

    def has_sdist(self, project_id: str, canonical_version: str) -> bool:
        f = s.files
        query = sa.select(1).where(
            f.c.project_id == project_id,
            f.c.canonical_version == canonical_version,
            f.c.packagetype == "sdist",
        )
        return self._first(query) is not None

    def add_file(self, f: NewFile) -> None:
        hashes = f.metadata_hashes or {}
        self._run(
            sa.insert(s.files).values(
                project_id=f.project_id,
                version=f.version,
                canonical_version=f.canonical_version,
                packagetype=f.packagetype,
                filename=f.filename,
                size=f.size,
                md5_digest=f.md5_digest,
                sha256_digest=f.sha256_digest,
                blake2_256_digest=f.blake2_256_digest,
                uploaded=time.time(),
                uploaded_by=f.uploaded_by,
                python_version=f.python_version,
                metadata_sha256=hashes.get("sha256"),
                metadata_blake2_256=hashes.get("blake2_256"),
            )
        )

    # releases
    def ensure_release(self, r: NewRelease) -> bool:
        """The first file of a release records its metadata and description; later files
        leave them as they are. True when the release is new (warehouse's "new release"
        journal entry)."""
        values = {
            "project_id": r.project_id,
            "version": r.version,
            "canonical_version": r.canonical_version,
            "requires_python": r.requires_python,
            "is_prerelease": r.is_prerelease,
            "info": r.info,
            "created": time.time(),
        }
        insert = _insert(self.db, s.releases).values(**values)
        insert = insert.on_conflict_do_nothing(index_elements=_RELEASE_KEY)
        if self._first(insert.returning(s.releases.c.id)) is None:  # there already
            return False
        key = {"project_id": r.project_id, "canonical_version": r.canonical_version}
        self._upsert(s.release_descriptions, {**key, "raw": r.description}, _RELEASE_KEY)
        return True

    def description(self, project_id: str, canonical_version: str) -> StoredDescription | None:
        """Where the release's stored description is, and its size in bytes, if any."""
        d = s.release_descriptions
        rowid = sa.literal_column("rowid") if self.db.is_sqlite else sa.null()
        row = self._first(
            sa.select(sa.func.length(d.c.raw), rowid).where(
                d.c.project_id == project_id, d.c.canonical_version == canonical_version
            )
        )
        if row is None:
            return None
        rowid_value = None if row[1] is None else int(row[1])
        return StoredDescription(project_id, canonical_version, int(row[0]), rowid_value)

    def description_chunks(
        self, stored: StoredDescription, chunk: int = 1024 * 1024
    ) -> Iterator[bytes]:
        """The description's bytes in pieces, each read in its own short statement
        (SQLite: incremental BLOB I/O; PostgreSQL: ``substr`` of the bytea, stored
        uncompressed so only the piece is fetched): memory independent of its size,
        no connection held between pieces. Stops early if the release is deleted."""
        d = s.release_descriptions
        offset = 0
        while offset < stored.size:
            with self._connection() as conn:
                if stored.rowid is not None:
                    raw = conn.connection.driver_connection
                    assert raw is not None
                    try:
                        with raw.blobopen(
                            "release_descriptions", "raw", stored.rowid, readonly=True
                        ) as blob:
                            blob.seek(offset)
                            data = blob.read(chunk)
                    except sqlite3.Error:  # the row is gone (deleted meanwhile)
                        return
                else:
                    data = conn.execute(
                        sa.select(sa.func.substr(d.c.raw, offset + 1, chunk)).where(
                            d.c.project_id == stored.project_id,
                            d.c.canonical_version == stored.canonical_version,
                        )
                    ).scalar()
            if not data:
                return
            offset += len(data)
            yield bytes(data)

    def description_text(self, project_id: str, canonical_version: str) -> str:
        """The whole description, for the one release page that renders it."""
        found = self.description(project_id, canonical_version)
        if found is None:
            return ""
        return b"".join(self.description_chunks(found)).decode("utf-8", "surrogatepass")

    # the journal
    def journal(self, name: str, version: str | None, action: str, by: str | None) -> None:
        """One ``JournalEntry`` (``name``: the normalized project name); its id is the new
        serial of the project and of the index.

        Entries are written last, when the transaction ends, under a site-wide lock
        held until the commit (PostgreSQL; SQLite serializes every write already):
        uploads to different projects commit in parallel, but their journal ids are
        handed out in commit order, so a reader never sees a serial appear below one
        it has already seen. Ids are never reused (a sequence, SQLite's AUTOINCREMENT)."""
        assert self.conn is not None, "a journal entry belongs to a write transaction"
        self._journal.append(
            {
                "name": name,
                "version": version,
                "action": action,
                "submitted_date": time.time(),
                "submitted_by": by,
            }
        )

    def write_journal(self) -> None:
        """The entries ``journal`` queued, in order (``Database.transaction`` calls it)."""
        if not self._journal:
            return
        assert self.conn is not None
        if not self.db.is_sqlite:
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(JOURNAL_LOCK)))
        self.conn.execute(sa.insert(s.journals), self._journal)  # one round trip
        self._journal.clear()

    # serving: each query is answered from an index, whatever the number of projects
    def project_names(self) -> list[tuple[str, str]]:
        """(name, normalized name) of every project, in the database's order of
        normalized names (warehouse: ``order_by(Project.normalized_name)``)."""
        p = s.projects
        rows = self._rows(sa.select(p.c.name, p.c.normalized_name).order_by(p.c.normalized_name))
        return [(str(a), str(b)) for a, b in rows]

    def last_serial(self, project_id: str | None = None) -> int:
        """The newest journal entry's id (of the project): it never goes down."""
        j, p = s.journals, s.projects
        query = sa.select(sa.func.max(j.c.id))
        if project_id is not None:
            name = sa.select(p.c.normalized_name).where(p.c.id == project_id).scalar_subquery()
            query = query.where(j.c.name == name)
        value = self._scalar(query)
        return 0 if value is None else int(value)

    def served_files(
        self, project_id: str, canonical_version: str | None = None
    ) -> list[ServedFile]:
        f, r = s.files, s.releases
        query = (
            sa.select(
                *_served_columns(r.c.version, r.c.requires_python), r.c.yanked, r.c.yanked_reason
            )
            .join(
                r,
                sa.and_(
                    r.c.project_id == f.c.project_id,
                    r.c.canonical_version == f.c.canonical_version,
                ),
            )
            .where(f.c.project_id == project_id)
        )
        if canonical_version is not None:
            query = query.where(f.c.canonical_version == canonical_version)
        return [
            _served(row[:-2], yanked=bool(row[-2]), yanked_reason=row[-1])
            for row in self._rows(query)
        ]

    def served_file(self, filename: str) -> tuple[ServedFile, str] | None:
        """A recorded file by name, with its project's normalized name."""
        f, p = s.files, s.projects
        columns = _served_columns(f.c.version, sa.null())
        query = (
            sa.select(*columns, p.c.normalized_name)
            .join(p, p.c.id == f.c.project_id)
            .where(f.c.filename == filename)
        )
        row = self._first(query)
        return None if row is None else (_served(row[:-1]), str(row[-1]))

    def uploaders(self, project_id: str, canonical_version: str) -> dict[str, str]:
        """filename -> username of who uploaded it, for one release's page."""
        f, u = s.files, s.users
        query = (
            sa.select(f.c.filename, u.c.username)
            .join(u, u.c.id == f.c.uploaded_by)
            .where(f.c.project_id == project_id, f.c.canonical_version == canonical_version)
        )
        return {str(a): str(b) for a, b in self._rows(query)}

    def release_history(self, project_id: str) -> list[tuple[Any, ...]]:
        """Every release without its metadata, for the pages' release history:
        (version, canonical version, requires_python, is_prerelease, created, yanked,
        yanked reason)."""
        r = s.releases
        query = sa.select(
            r.c.version,
            r.c.canonical_version,
            r.c.requires_python,
            r.c.is_prerelease,
            r.c.created,
            r.c.yanked,
            r.c.yanked_reason,
        ).where(r.c.project_id == project_id)
        return [
            (str(a), str(b), c, bool(d), float(e), bool(f), g)
            for a, b, c, d, e, f, g in self._rows(query)
        ]

    def release_info(self, project_id: str, canonical_version: str) -> str:
        """One release's recorded metadata (JSON), read only for the release a page shows."""
        r = s.releases
        value = self._scalar(
            sa.select(r.c.info).where(
                r.c.project_id == project_id, r.c.canonical_version == canonical_version
            )
        )
        return "{}" if value is None else str(value)

    def yanks(self, project_id: str) -> dict[str, str]:
        """canonical version -> yanked reason ("" for none), of the yanked releases only."""
        r = s.releases
        query = sa.select(r.c.canonical_version, r.c.yanked_reason).where(
            r.c.project_id == project_id, r.c.yanked
        )
        return {str(a): str(b or "") for a, b in self._rows(query)}

    def set_yanked(
        self, project_id: str, canonical_version: str, yanked: bool, reason: str | None
    ) -> bool:
        """Yank (with a reason) or un-yank one release; False if there is no such release."""
        r = s.releases
        statement = (
            sa.update(r)
            .where(r.c.project_id == project_id, r.c.canonical_version == canonical_version)
            .values(yanked=yanked, yanked_reason=reason if yanked else None)
        )
        return self._run(statement) > 0

    def releases(self, project_id: str) -> list[tuple[str, str, str | None, bool, str]]:
        """(version, canonical version, requires_python, is_prerelease, info JSON)."""
        r = s.releases
        query = sa.select(
            r.c.version, r.c.canonical_version, r.c.requires_python, r.c.is_prerelease, r.c.info
        ).where(r.c.project_id == project_id)
        return [(str(a), str(b), c, bool(d), str(e)) for a, b, c, d, e in self._rows(query)]

    def roles(self, project_id: str) -> list[tuple[str, str]]:
        """(role name, username) of every role on the project."""
        r, u = s.roles, s.users
        query = (
            sa.select(r.c.role_name, u.c.username)
            .join(u, u.c.id == r.c.user_id)
            .where(r.c.project_id == project_id)
        )
        return [(str(a), str(b)) for a, b in self._rows(query)]

    def recorded_metadata(self) -> list[str]:
        """The recorded files that have a PEP 658 metadata file beside them."""
        f = s.files
        query = sa.select(f.c.filename).where(f.c.metadata_sha256.is_not(None))
        return [str(r[0]) for r in self._rows(query)]

    def recorded_sizes(self) -> dict[str, int]:
        """Every recorded filename and its size: read when a server starts."""
        f = s.files
        return {str(a): int(b) for a, b in self._rows(sa.select(f.c.filename, f.c.size))}

    def is_recorded(self, filename: str) -> bool:
        return self._first(sa.select(1).where(s.files.c.filename == filename)) is not None

    # upload rules (tokentool.index.rules) and deletion
    def display_names(self) -> list[str]:
        """Every project's stored name: the "too similar" rule compares against them all."""
        return [str(r[0]) for r in self._rows(sa.select(s.projects.c.name))]

    def rename_project(self, project_id: str, name: str) -> None:
        """The display name follows the latest upload's spelling (same normalized name)."""
        p = s.projects
        self._run(sa.update(p).where(p.c.id == project_id).values(name=name))

    def project_size(self, project_id: str) -> int:
        f = s.files
        query = sa.select(sa.func.coalesce(sa.func.sum(f.c.size), 0)).where(
            f.c.project_id == project_id
        )
        return int(self._scalar(query) or 0)

    def filename_deleted(self, filename: str) -> bool:
        d = s.deleted_filenames
        return self._first(sa.select(1).where(d.c.filename == filename)) is not None

    def release_created(self, project_id: str, canonical_version: str) -> float | None:
        """When the release's first (still present) file came: the stand-in's release row."""
        f = s.files
        value = self._scalar(
            sa.select(sa.func.min(f.c.uploaded)).where(
                f.c.project_id == project_id, f.c.canonical_version == canonical_version
            )
        )
        return None if value is None else float(value)

    def record_project_creation(self, user_id: str) -> None:
        self._run(sa.insert(s.project_creations).values(user_id=user_id, at=time.time()))

    def project_creations_since(self, user_id: str, since: float) -> int:
        c = s.project_creations
        query = sa.select(sa.func.count()).where(c.c.user_id == user_id, c.c.at >= since)
        return int(self._scalar(query) or 0)

    def delete_release(self, project_id: str, canonical_version: str) -> None:
        """A release goes with its files (warehouse's release deletion)."""
        self.delete_files(self.files_of(project_id, canonical_version))
        for table in (s.releases, s.release_descriptions):
            self._run(
                sa.delete(table).where(
                    table.c.project_id == project_id,
                    table.c.canonical_version == canonical_version,
                )
            )

    def files_of(
        self, project_id: str, canonical_version: str | None = None, filename: str | None = None
    ) -> list[str]:
        f = s.files
        query = sa.select(f.c.filename).where(f.c.project_id == project_id)
        if canonical_version is not None:
            query = query.where(f.c.canonical_version == canonical_version)
        if filename is not None:
            query = query.where(f.c.filename == filename)
        return [str(r[0]) for r in self._rows(query.order_by(f.c.filename))]

    def delete_files(self, filenames: list[str]) -> None:
        """Forget the files (their stored content and metadata files too, when the
        database holds them); their names stay taken for good."""
        now = time.time()
        f, c = s.files, s.file_chunks
        for name in filenames:
            self._run(sa.delete(f).where(f.c.filename == name))
            self._run(sa.delete(c).where(c.c.filename.in_([name, name + METADATA_SUFFIX])))
            self._insert_ignore(
                s.deleted_filenames, {"filename": name, "deleted": now}, ["filename"]
            )

    def delete_project(self, project_id: str) -> None:
        self.delete_files(self.files_of(project_id))
        self._run(sa.delete(s.releases).where(s.releases.c.project_id == project_id))
        d = s.release_descriptions
        self._run(sa.delete(d).where(d.c.project_id == project_id))
        self._run(sa.delete(s.roles).where(s.roles.c.project_id == project_id))
        self._run(sa.delete(s.projects).where(s.projects.c.id == project_id))

    # listing
    def listing(self) -> dict[str, Any]:
        """Everything an operator may see; never a key or a token."""
        u, p, r, f, t = s.users, s.projects, s.roles, s.files, s.tokens
        users = [
            {"id": str(a), "username": b}
            for a, b in self._rows(sa.select(u.c.id, u.c.username).order_by(u.c.username))
        ]
        owners: dict[str, list[str]] = {}
        for pid, name in self._rows(
            sa.select(r.c.project_id, u.c.username)
            .join(u, u.c.id == r.c.user_id)
            .order_by(u.c.username)
        ):
            owners.setdefault(str(pid), []).append(name)
        files: dict[str, list[str]] = {}
        for pid, name in self._rows(sa.select(f.c.project_id, f.c.filename).order_by(f.c.filename)):
            files.setdefault(str(pid), []).append(name)
        projects = [
            {
                "id": str(pid),
                "name": name,
                "normalized_name": normalized,
                "owners": owners.get(str(pid), []),
                "files": files.get(str(pid), []),
            }
            for pid, name, normalized in self._rows(
                sa.select(p.c.id, p.c.name, p.c.normalized_name).order_by(p.c.normalized_name)
            )
        ]
        tokens = [
            {"identifier": str(a), "user": b, "description": c, "scope": d}
            for a, b, c, d in self._rows(
                sa.select(t.c.id, u.c.username, t.c.description, t.c.scope)
                .join(u, u.c.id == t.c.user_id)
                .order_by(u.c.username, t.c.created)
            )
        ]
        return {"users": users, "projects": projects, "tokens": tokens}


#: A release's key in ``releases`` and ``release_descriptions``.
_RELEASE_KEY = ["project_id", "canonical_version"]


def _insert(db: Database, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``ON CONFLICT`` (SQLite and PostgreSQL spell it alike)."""
    if db.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert(table)


def _as_uuid(identifier: str) -> sa.ColumnElement[Any]:
    """The identifier as a value of the id column's type: the server parses it (PostgreSQL's
    ``uuid`` input, not Python's), as warehouse's ``Macaroon.id == identifier`` does."""
    return sa.cast(sa.literal(identifier, sa.Text), s.UUID)


def _served_columns(version: Any, requires_python: Any) -> list[Any]:
    f = s.files
    return [
        f.c.id,
        f.c.project_id,
        f.c.filename,
        version,
        f.c.packagetype,
        f.c.python_version,
        f.c.size,
        f.c.md5_digest,
        f.c.sha256_digest,
        f.c.blake2_256_digest,
        f.c.uploaded,
        requires_python,
        f.c.metadata_sha256,
    ]


def _served(row: Any, **release: Any) -> ServedFile:
    values = list(row)
    values[1] = str(values[1])
    return ServedFile(*values, **release)
