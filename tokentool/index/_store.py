"""The package folder: files become visible exactly when the row recording them commits.

The database is the only authority on what is published: every page and every
download is rendered from a row, so a file in the folder without a row is never
served. An upload is received under a unique hidden ``.upload-*.part`` name
(exclusive create), checked, and then hard-linked to its final name *inside*
the transaction that records it: ``link`` never replaces an existing name, so a
published file is never overwritten, and a crash between link and commit leaves
an unrecorded file that is not served and that ``reconcile`` removes at the next
start. A wheel's PEP 658 metadata file is received beside it (``NAME.metadata``,
written by the METADATA rule as it reads the member) and linked in the same
transaction; its row keeps only the digests. Server-side failures (disk full,
a name the filesystem refuses) become a ``ServerFault``: a 5xx whose reason
says what happened.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sqlite3
import uuid
from pathlib import Path
from typing import BinaryIO

from tokentool.index._db import Database

log = logging.getLogger("tokentool.index")

_CHUNK = 1024 * 1024
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
#: A wheel's PEP 658 metadata file, beside the wheel: ``<filename>.metadata``.
METADATA_SUFFIX = ".metadata"


class ServerFault(Exception):
    """A failure on the server's side: the status (5xx) and a reason saying what happened."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def server_fault(exc: OSError | sqlite3.Error) -> ServerFault:
    """The honest answer for a storage or database failure; never quotes the request."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return ServerFault(507, "Insufficient Storage: the server's disk is full.")
        if exc.errno == errno.ENAMETOOLONG:
            return ServerFault(
                500, "Internal Server Error: the file name is too long for the server's storage."
            )
        reason = exc.strerror or type(exc).__name__
        return ServerFault(500, f"Internal Server Error: storage failed ({reason}).")
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    if "full" in text:
        return ServerFault(507, "Insufficient Storage: the server's database is full.")
    return ServerFault(500, f"Internal Server Error: database failed ({text}).")


def receive(source: BinaryIO, directory: Path) -> tuple[Path, dict[str, str], int]:
    """Copy the upload to a new hidden file in ``directory``, hashing it on the way.

    No fsync: the guarantee is against the process dying (kill -9, OOM), where
    the kernel keeps what was written, which matches the database's own
    ``synchronous=NORMAL``; after a power loss ``reconcile`` reports files whose
    size disagrees with their row.
    """
    temp = directory / f"{TEMP_PREFIX}{uuid.uuid4().hex}{TEMP_SUFFIX}"
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


def publish(temp: Path, final: Path) -> Path:
    """Give the received file its final name; call inside the recording transaction.

    Only a rolled-back or crashed upload can leave a file of that name without a
    row (the transaction holds the write lock, and a recorded name is refused
    before this), so an existing name is a fault, never something to replace.
    """
    try:
        os.link(temp, final)
    except FileExistsError:
        log.error("storage: %r exists without a record; refusing to replace it", final.name)
        raise ServerFault(
            500, "Internal Server Error: a file of that name is in storage without a record."
        ) from None
    return final


def reconcile(db: Database) -> list[str]:
    """Make the folder agree with the database before serving; returns what was done.

    Removes received-but-unrecorded uploads (``.part`` files and files without a
    row: a crash came before their transaction committed, so no client was told
    they were accepted) and reports rows whose file is missing (never deleted:
    the row is the record of an accepted upload).
    """
    recorded = db.reader().recorded_sizes()
    # A wheel's metadata file is recorded by its wheel's row (its digests).
    for name in db.reader().recorded_metadata():
        recorded.setdefault(name + METADATA_SUFFIX, -1)
    actions = []
    present = set()
    with os.scandir(db.packages_dir) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name in recorded:
                present.add(entry.name)
                size = entry.stat(follow_symlinks=False).st_size
                if recorded[entry.name] >= 0 and size != recorded[entry.name]:
                    actions.append(
                        f"damaged: {entry.name!r} has {size} bytes, its record says "
                        f"{recorded[entry.name]} (not served)"
                    )
                continue
            what = (
                "a partial upload"
                if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)
                else "a file without a record"
            )
            os.unlink(entry.path)
            actions.append(f"removed {what}: {entry.name!r}")
    for name in sorted(set(recorded) - present):
        actions.append(f"missing: {name!r} is recorded but not in the package folder")
    for action in actions:
        (log.warning if action.startswith("removed") else log.error)("storage: %s", action)
    return actions
