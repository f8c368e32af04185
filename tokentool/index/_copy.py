"""``tokentool index migrate --to postgresql://...``: a SQLite data folder into PostgreSQL.

Everything is copied in one PostgreSQL transaction (a failure leaves the target
as empty as it was), table by table in batches through the same ``Table``
definitions the stand-in runs on, so a column added later is copied without
touching this module. Package files are streamed into the database one chunk at
a time (never whole in memory), unless the team keeps them in a shared folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import sqlalchemy as sa

from tokentool.index import IndexRefusal
from tokentool.index import _schema as s
from tokentool.index._db import WRITE_LOCK, Database
from tokentool.index._store import _CHUNK

_BATCH = 2000
#: Tables whose rows may be large (a description of tens of MiB): fewer rows per batch.
_SMALL_BATCHES = {s.release_descriptions.name: 8}
#: Tables whose integer ids continue from the copied ones (their sequences are moved on):
#: the journal's too, so serials go on from the copied ones and never go down.
_SERIAL = (s.files, s.releases, s.journals)


class CopyRefused(IndexRefusal):
    """The target is not empty, or the source is not a stand-in's folder."""


def copy_to_postgresql(
    data_dir: Path | None, url: str, *, files: bool = True, progress: TextIO | None = None
) -> str:
    """Copy; returns a one-line summary. The source is only read."""
    from tokentool._root import find_root
    from tokentool.index import DEFAULT_DATA_DIR
    from tokentool.index._db import DB_NAME, PACKAGES_DIR
    from tokentool.index._store import METADATA_SUFFIX

    folder = Path(data_dir) if data_dir is not None else find_root() / DEFAULT_DATA_DIR
    if not (folder / DB_NAME).is_file():
        raise CopyRefused(f"no stand-in data in {folder} (no {DB_NAME})")
    source = Database(folder)
    target = Database(folder if not files else None, url)
    counts: dict[str, int] = {}
    try:
        with source.engine.connect() as src, target.engine.connect() as dst:
            dst.execute(sa.select(sa.func.pg_advisory_xact_lock(WRITE_LOCK)))
            for table in (s.users, s.projects, s.files):
                if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar():
                    raise CopyRefused(f"the target database already has {table.name}: not empty")
            for table in s.metadata.sorted_tables:
                if table is s.file_chunks:
                    continue
                counts[table.name] = _copy_table(src, dst, table)
                if progress is not None:
                    print(f"{table.name}: {counts[table.name]} rows", file=progress)
            for table in _SERIAL:
                top = dst.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
                sequence = sa.func.pg_get_serial_sequence(table.name, "id")
                dst.execute(sa.select(sa.func.setval(sequence, top + 1, False)))
            stored = 0
            if files:
                names = src.execute(sa.select(s.files.c.filename, s.files.c.size)).all()
                for name, size in names:
                    stored += _copy_file(dst, folder / PACKAGES_DIR / name, name, size)
                # PEP 658 metadata files: their rows keep only their digests, no size.
                f = s.files
                wheels = src.execute(
                    sa.select(f.c.filename).where(f.c.metadata_sha256.is_not(None))
                ).scalars()
                for name in list(wheels):
                    meta = name + METADATA_SUFFIX
                    _copy_file(dst, folder / PACKAGES_DIR / meta, meta, None)
            dst.commit()
    finally:
        source.close()
        target.close()
    summary = ", ".join(f"{n} {t}" for t, n in counts.items() if n)
    where = f"{stored} package files into the database" if files else "no package files"
    return f"{summary or 'nothing'}; {where}"


def _copy_table(src: sa.Connection, dst: sa.Connection, table: sa.Table) -> int:
    copied = 0
    batch_size = _SMALL_BATCHES.get(table.name, _BATCH)
    result = src.execution_options(yield_per=batch_size).execute(sa.select(table))
    for batch in result.partitions():
        dst.execute(sa.insert(table), [dict(row._mapping) for row in batch])
        copied += len(batch)
    return copied


def _copy_file(dst: sa.Connection, path: Path, name: str, size: int | None) -> int:
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        raise CopyRefused(f"{name!r} is recorded but missing from the package folder") from None
    with stream:
        seq = total = 0
        while chunk := stream.read(_CHUNK):
            dst.execute(sa.insert(s.file_chunks).values(filename=name, seq=seq, data=chunk))
            seq += 1
            total += len(chunk)
    if size is not None and total != size:
        raise CopyRefused(f"{name!r} has {total} bytes, its record says {size}")
    return 1
