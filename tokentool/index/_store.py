"""Package storage: files become visible exactly when the row recording them commits.

The database is the only authority on what is published: every page and every
download is rendered from a row, so stored content without a row is never
served. An upload is received under a hidden ``.upload-<process>-*.part`` name
in this process's spool (exclusive create), checked, and then published
*inside* the transaction that records it:

- ``FolderStorage`` (a ``--data-dir``, shared or not) hard-links it to its final
  name: ``link`` never replaces an existing name, so a published file is never
  overwritten, and a crash between link and commit leaves an unrecorded file
  that is not served and that ``reconcile`` removes under the write lock.
- ``ChunkStorage`` (PostgreSQL without a ``--data-dir``) streams it into
  ``file_chunks`` rows in the same transaction, before it takes the write lock:
  a rollback or a crash takes the rows with it.

A wheel's PEP 658 metadata file is received beside it in the spool (written by
the METADATA rule as it reads the member) and published the same way, in the
same transaction, as ``<filename>.metadata``; its row keeps only the digests.

A process starting up never removes another's upload in flight: each process
holds an exclusive ``flock`` on its own ``.proc-<id>.lock`` for its lifetime,
and only the ``.part`` files of a process whose lock nobody holds are removed.
Server-side failures (disk full, a name the filesystem refuses, the database
unreachable) become a ``ServerFault``: a 5xx whose reason says what happened.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import sqlalchemy as sa

from tokentool.index import _schema as s

if TYPE_CHECKING:
    from tokentool.index._db import Database, Tx

log = logging.getLogger("tokentool.index")

_CHUNK = 1024 * 1024
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
LOCK_PREFIX = ".proc-"
LOCK_SUFFIX = ".lock"
#: A ``.part`` file of the pre-lock format (no owner recorded) is removed once this old.
ORPHAN_GRACE_SECONDS = 3600
#: A wheel's PEP 658 metadata file, beside the wheel: ``<filename>.metadata``.
METADATA_SUFFIX = ".metadata"


class ServerFault(Exception):
    """A failure on the server's side: the status (5xx) and a reason saying what happened."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


#: PostgreSQL's SQLSTATE for "disk full" and the classes meaning "no server to talk to".
_PG_DISK_FULL = "53100"
_PG_LOCK_TIMEOUT = "55P03"
_PG_NOT_ACCEPTING = "55000"  # e.g. a database that does not allow connections now
_PG_UNAVAILABLE = ("08", "57P")


def server_fault(exc: OSError | sa.exc.SQLAlchemyError) -> ServerFault:
    """The honest answer for a storage or database failure; never quotes the request
    (a database error's text may: only its class and code are used)."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return ServerFault(507, "Insufficient Storage: the server's disk is full.")
        if exc.errno == errno.ENAMETOOLONG:
            return ServerFault(
                500, "Internal Server Error: the file name is too long for the server's storage."
            )
        reason = exc.strerror or type(exc).__name__
        return ServerFault(500, f"Internal Server Error: storage failed ({reason}).")
    orig = getattr(exc, "orig", None)
    if isinstance(exc, sa.exc.TimeoutError):  # every pooled connection busy for 30 s
        return ServerFault(503, "Service Unavailable: the database is busy.")
    if type(orig).__module__.startswith("psycopg"):
        sqlstate = str(getattr(orig, "sqlstate", None) or "")
        if sqlstate == _PG_DISK_FULL:
            return ServerFault(507, "Insufficient Storage: the server's database is full.")
        if sqlstate == _PG_LOCK_TIMEOUT:
            return ServerFault(503, "Service Unavailable: the database is busy.")
        # No SQLSTATE: the connection itself failed (refused, reset, timed out).
        if (
            not sqlstate
            or sqlstate.startswith(_PG_UNAVAILABLE)
            or sqlstate == _PG_NOT_ACCEPTING
            or (isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)
        ):
            return ServerFault(503, "Service Unavailable: the database is unreachable.")
        return ServerFault(500, f"Internal Server Error: database failed (SQLSTATE {sqlstate}).")
    text = str(orig.args[0]) if orig is not None and orig.args else type(orig or exc).__name__
    if "full" in text:
        return ServerFault(507, "Insufficient Storage: the server's database is full.")
    return ServerFault(500, f"Internal Server Error: database failed ({text}).")


class Spool:
    """Where this process receives uploads, marked as its own by a lock it holds until exit.

    The lock file is created under a temporary name, locked, then renamed into
    place, so no other process ever sees it unlocked while this one lives.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.id = uuid.uuid4().hex
        self.lock_path = directory / f"{LOCK_PREFIX}{self.id}{LOCK_SUFFIX}"
        self._fd = -1
        self._guard = threading.Lock()

    def _hold(self) -> None:
        """Take the lock at the first upload (a CLI command that receives none takes none)."""
        with self._guard:
            if self._fd >= 0:
                return
            staging = self.directory / f"{TEMP_PREFIX}{self.id}-lock{TEMP_SUFFIX}"
            fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(staging, self.lock_path)
            self._fd = fd

    def new_temp(self) -> Path:
        self._hold()
        return self.directory / f"{TEMP_PREFIX}{self.id}-{uuid.uuid4().hex}{TEMP_SUFFIX}"

    def close(self) -> None:
        if self._fd >= 0:
            self.lock_path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = -1

    def sweep(self) -> list[str]:
        """Remove what processes that are gone left behind: their ``.part`` files and
        locks. A live process's lock cannot be taken, so its files are never touched."""
        actions = []
        dead = set()
        with os.scandir(self.directory) as entries:
            names = [e.name for e in entries]
        for name in names:
            if not (name.startswith(LOCK_PREFIX) and name.endswith(LOCK_SUFFIX)):
                continue
            owner = name[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)]
            if owner != self.id and _unlocked(self.directory / name):
                dead.add(owner)
        live_prefixes = set()
        for name in names:
            if name.startswith(LOCK_PREFIX) and name.endswith(LOCK_SUFFIX):
                live_prefixes.add(name[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)])
        for name in names:
            if not _is_temp(name):
                continue
            owner = name[len(TEMP_PREFIX) :].partition("-")[0]
            if owner == self.id:
                continue
            if owner in dead:
                why = "a partial upload of a process that is gone"
            elif owner in live_prefixes:
                continue
            elif _older_than(self.directory / name, ORPHAN_GRACE_SECONDS):
                # No lock file of that owner (an older stand-in, or a lock being
                # renamed into place right now: hence the grace period).
                why = "a partial upload"
            else:
                continue
            with contextlib.suppress(FileNotFoundError):  # its owner's sweep was first
                os.unlink(self.directory / name)
                actions.append(f"removed {why}: {name!r}")
        for owner in sorted(dead):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.directory / f"{LOCK_PREFIX}{owner}{LOCK_SUFFIX}")
        return actions


def _unlocked(path: Path) -> bool:
    """True if nobody holds ``path``'s lock (its process is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also releases the lock taken just now
    return True


def _is_temp(name: str) -> bool:
    """An upload being received, or the PEP 658 metadata file received beside it."""
    return name.startswith(TEMP_PREFIX) and name.endswith(
        (TEMP_SUFFIX, TEMP_SUFFIX + METADATA_SUFFIX)
    )


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return path.stat().st_mtime < time.time() - seconds
    except FileNotFoundError:
        return False


def _unrecorded(filename: str) -> ServerFault:
    """``publish`` found the name taken: only a rolled-back or crashed upload leaves
    one, so it is a fault, never something to replace (both storages say so)."""
    log.error("storage: %r exists without a record; refusing to replace it", filename)
    return ServerFault(
        500, "Internal Server Error: a file of that name is in storage without a record."
    )


class Storage(Protocol):
    """Where package files live; ``publish`` runs inside the recording transaction."""

    spool: Spool

    def stage(self, tx: Tx, temps: Sequence[Path]) -> None:
        """Lock-free work of the recording transaction (before its checks)."""

    def publish(self, tx: Tx, temp: Path, filename: str) -> None:
        """Give the received file its final name; after every check, before the commit."""

    def discard(self, filename: str) -> None:
        """Undo ``publish`` after its transaction failed to commit."""

    def open(self, filename: str, size: int | None) -> tuple[BinaryIO, int] | None:
        """The file for sending and its size, or None (logged) when it is missing or
        damaged; ``size``: the recorded one (None: a metadata file, whose row has
        only its digests)."""

    def removed(self, filenames: list[str]) -> None:
        """After the transaction deleting the files' rows committed (their metadata
        files go with them)."""

    def reconcile(self, db: Database) -> list[str]:
        """Make storage agree with the database before serving; returns what was done."""

    def close(self) -> None: ...


class FolderStorage:
    """Files in a folder (``--data-dir``/packages), which other processes may share."""

    def __init__(self, directory: Path, spool: Path) -> None:
        make_private_dirs(directory)
        make_private_dirs(spool)
        self.directory = directory
        # Beside the package folder (the same filesystem: publish is a hard link).
        self.spool = Spool(spool)

    def stage(self, tx: Tx, temps: Sequence[Path]) -> None:
        pass

    def publish(self, tx: Tx, temp: Path, filename: str) -> None:
        """Only a rolled-back or crashed upload can leave a file of that name without a
        row (the transaction holds the write lock, and a recorded name is refused
        before this), so an existing name is a fault, never something to replace."""
        final = self.directory / filename
        try:
            os.link(temp, final)
        except FileExistsError:
            raise _unrecorded(filename) from None

    def discard(self, filename: str) -> None:
        (self.directory / filename).unlink(missing_ok=True)

    def open(self, filename: str, size: int | None) -> tuple[BinaryIO, int] | None:
        try:
            stream = open(self.directory / filename, "rb")  # closed by the caller
        except FileNotFoundError:
            log.error("storage: %r is recorded but missing", filename)
            return None
        found = os.fstat(stream.fileno()).st_size
        if size is not None and found != size:
            stream.close()
            log.error("storage: %r has %d bytes, its record says %d", filename, found, size)
            return None
        return stream, found

    def removed(self, filenames: list[str]) -> None:
        for name in filenames:
            (self.directory / name).unlink(missing_ok=True)
            (self.directory / (name + METADATA_SUFFIX)).unlink(missing_ok=True)

    def reconcile(self, db: Database) -> list[str]:
        """Remove what crashed uploads left: ``.part`` files of processes that are gone
        (``Spool.sweep``), and files without a row, looked for under the write lock,
        when no upload is between its link and its commit (no client was told those
        were accepted). Rows whose file is missing are reported, never deleted: the
        row is the record of an accepted upload."""
        actions = self.spool.sweep()
        with db.transaction() as tx:
            recorded: dict[str, int | None] = dict(tx.recorded_sizes())
            # A wheel's metadata file is recorded by its wheel's row (its digests).
            for name in tx.recorded_metadata():
                recorded.setdefault(name + METADATA_SUFFIX, None)
            present = set()
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        # A partial upload of a stand-in older than the spool folder.
                        if _is_temp(entry.name) and _older_than(
                            Path(entry.path), ORPHAN_GRACE_SECONDS
                        ):
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.path)
                                actions.append(f"removed a partial upload: {entry.name!r}")
                        continue
                    try:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        if entry.name in recorded:
                            present.add(entry.name)
                            size = entry.stat(follow_symlinks=False).st_size
                            if recorded[entry.name] not in (None, size):
                                actions.append(
                                    f"damaged: {entry.name!r} has {size} bytes, its record "
                                    f"says {recorded[entry.name]} (not served)"
                                )
                            continue
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    actions.append(f"removed a file without a record: {entry.name!r}")
        for name in sorted(set(recorded) - present):
            actions.append(f"missing: {name!r} is recorded but not in the package folder")
        _log_actions(actions)
        return actions

    def close(self) -> None:
        self.spool.close()


class ChunkStorage:
    """Files in the database's ``file_chunks`` rows: nothing shared but the database.

    Uploads are received in a private local spool first (their checks read the
    file); the rows are written in the recording transaction before it takes
    the write lock, under the spool name, and renamed to the file's name after
    the checks (PostgreSQL keeps the stored chunks; only the key changes).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        # One spool per user and database: the processes of one site sweep each other's.
        site = hashlib.sha256(db.url.encode()).hexdigest()[:16]
        directory = Path(tempfile.gettempdir()) / f"tokentool-index-{os.getuid()}-{site}"
        make_private_dirs(directory)
        self.spool = Spool(directory)

    def stage(self, tx: Tx, temps: Sequence[Path]) -> None:
        """The files' rows under their spool names, a statement per MiB or so (a wheel
        and its metadata file together: one round trip), one MiB in memory at a time."""
        conn = tx.conn
        assert conn is not None
        batch: list[dict[str, object]] = []
        size = 0
        for temp in temps:
            with open(temp, "rb") as stream:
                seq = 0
                while chunk := stream.read(_CHUNK):
                    batch.append({"filename": temp.name, "seq": seq, "data": chunk})
                    seq += 1
                    size += len(chunk)
                    if size >= _CHUNK:
                        conn.execute(sa.insert(s.file_chunks), batch)
                        batch, size = [], 0
        if batch:
            conn.execute(sa.insert(s.file_chunks), batch)

    def publish(self, tx: Tx, temp: Path, filename: str) -> None:
        """One statement: the rename, unless rows of that name exist already. A staged
        file has rows unless it is empty, so no row renamed means the name is taken
        (an empty one is looked for explicitly)."""
        assert tx.conn is not None
        c = s.file_chunks
        taken = sa.select(1).where(c.c.filename == filename).limit(1)
        renamed = tx.conn.execute(
            sa.update(c)
            .where(c.c.filename == temp.name, ~sa.exists(taken))
            .values(filename=filename)
        ).rowcount
        if not renamed and (temp.stat().st_size or tx.conn.execute(taken).first()):
            raise _unrecorded(filename)

    def discard(self, filename: str) -> None:
        pass  # the rows went with the rolled-back transaction

    def open(self, filename: str, size: int | None) -> tuple[BinaryIO, int] | None:
        if size is None:  # a metadata file: its size is its rows'
            c = s.file_chunks
            with self.db.read_connection() as conn:
                stored = conn.execute(
                    sa.select(sa.func.count(), sa.func.sum(sa.func.length(c.c.data))).where(
                        c.c.filename == filename
                    )
                ).one()
            if not stored[0]:
                log.error("storage: %r is recorded but has no content in the database", filename)
                return None
            size = int(stored[1] or 0)
        reader = ChunkReader(self.db, filename)
        if size and not reader.peek():
            log.error("storage: %r is recorded but has no content in the database", filename)
            return None
        return reader, size  # type: ignore[return-value]

    def removed(self, filenames: list[str]) -> None:
        pass  # deleted with the rows (Tx.delete_files)

    def reconcile(self, db: Database) -> list[str]:
        actions = self.spool.sweep()
        _log_actions(actions)
        return actions

    def close(self) -> None:
        self.spool.close()


class ChunkReader:
    """A file-like reader over a file's rows: one row (1 MiB) in memory at a time,
    each read in its own short statement (no connection held while a client reads)."""

    def __init__(self, db: Database, filename: str) -> None:
        self.db = db
        self.filename = filename
        self._seq = 0
        self._buffer = b""
        self._done = False

    def _next(self) -> bytes:
        c = s.file_chunks
        with self.db.read_connection() as conn:
            data = conn.execute(
                sa.select(c.c.data).where(c.c.filename == self.filename, c.c.seq == self._seq)
            ).scalar()
        if data is None:
            self._done = True
            return b""
        self._seq += 1
        return bytes(data)

    def peek(self) -> bool:
        if not self._buffer and not self._done:
            self._buffer = self._next()
        return bool(self._buffer)

    def read(self, size: int = -1) -> bytes:
        if not self.peek():
            return b""
        if size < 0 or size >= len(self._buffer):
            out, self._buffer = self._buffer, b""
            return out
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        self._done = True
        self._buffer = b""


def _log_actions(actions: list[str]) -> None:
    for action in actions:
        (log.warning if action.startswith("removed") else log.error)("storage: %s", action)


def receive(source: BinaryIO, spool: Spool) -> tuple[Path, dict[str, str], int]:
    """Copy the upload to a new hidden file in the spool, hashing it on the way.

    No fsync: the guarantee is against the process dying (kill -9, OOM), where
    the kernel keeps what was written, which matches the database's own
    ``synchronous=NORMAL``; after a power loss ``reconcile`` reports files whose
    size disagrees with their row.
    """
    temp = spool.new_temp()
    hashers = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha256": hashlib.sha256(),
        "blake2_256": hashlib.blake2b(digest_size=32),
    }
    size = 0
    source.seek(0)
    try:
        with open(temp, "xb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                out.write(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, {name: h.hexdigest() for name, h in hashers.items()}, size


def reconcile(db: Database) -> list[str]:
    """Make storage agree with the database before serving (``Storage.reconcile``)."""
    return db.storage.reconcile(db)


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
