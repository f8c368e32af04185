"""The journal, descriptions stored apart, and PEP 658 metadata files beside the wheels.

Revision ID: 0004
Revises: 0003

- ``journals`` (warehouse's ``JournalEntry``): created and backfilled once from
  the files recorded so far, keeping their ids, since a serial was the newest
  file's id before: serials go on from there and never go down.
- ``release_descriptions``: each release's description, apart from ``info``
  (rows recorded before keep it in ``info`` and are served from there).
- ``file_metadata`` dropped: each row is written out first as the file
  ``<filename>.metadata`` where the package files are (the data folder's
  ``packages/``, or ``file_chunks`` rows when PostgreSQL holds the files);
  the files row already has its digests.

Data folders used between issue 16 and Alembic have the two tables already
(and no ``file_metadata``): what exists is left as it is.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UUID = sa.String(36).with_variant(postgresql.UUID(as_uuid=False), "postgresql")
TIME = sa.Float(precision=53)
_CHUNK = 1024 * 1024


def upgrade() -> None:
    bind = op.get_bind()
    is_postgresql = bind.dialect.name == "postgresql"
    inspector = sa.inspect(bind)
    if not inspector.has_table("release_descriptions"):
        op.create_table(
            "release_descriptions",
            sa.Column("project_id", UUID, primary_key=True),
            sa.Column("canonical_version", sa.Text, primary_key=True),
            sa.Column("raw", sa.LargeBinary, nullable=False),
        )
        if is_postgresql:
            # Uncompressed out of line: substr() of one piece fetches only that piece.
            op.execute("ALTER TABLE release_descriptions ALTER COLUMN raw SET STORAGE EXTERNAL")
    if not inspector.has_table("journals"):
        op.create_table(
            "journals",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("name", sa.Text),
            sa.Column("version", sa.Text),
            sa.Column("action", sa.Text),
            sa.Column("submitted_date", TIME, nullable=False),
            sa.Column("submitted_by", sa.Text),
            sqlite_autoincrement=True,
        )
        op.create_index("journals_name_id_idx", "journals", ["name", "id"])
    _backfill_journals(bind, is_postgresql)
    if inspector.has_table("file_metadata"):
        _write_out_metadata(bind)
        op.drop_table("file_metadata")


def _backfill_journals(bind: sa.Connection, is_postgresql: bool) -> None:
    journals = sa.table(
        "journals",
        sa.column("id"),
        sa.column("name"),
        sa.column("version"),
        sa.column("action"),
        sa.column("submitted_date"),
    )
    if bind.execute(sa.select(journals.c.id).limit(1)).first() is not None:
        return
    files = sa.table(
        "files",
        sa.column("id"),
        sa.column("project_id"),
        sa.column("version"),
        sa.column("filename", sa.Text),
        sa.column("uploaded"),
    )
    projects = sa.table("projects", sa.column("id"), sa.column("normalized_name"))
    rows = sa.select(
        files.c.id,
        projects.c.normalized_name,
        files.c.version,
        sa.literal("add file ", sa.Text) + files.c.filename,
        files.c.uploaded,
    ).join(projects, projects.c.id == files.c.project_id)
    bind.execute(
        sa.insert(journals).from_select(["id", "name", "version", "action", "submitted_date"], rows)
    )
    if is_postgresql:  # the sequence goes on after the ids kept
        top = bind.execute(sa.select(sa.func.max(journals.c.id))).scalar() or 0
        sequence = sa.func.pg_get_serial_sequence("journals", "id")
        bind.execute(sa.select(sa.func.setval(sequence, top + 1, False)))


def _write_out_metadata(bind: sa.Connection) -> None:
    """Each stored METADATA as ``<filename>.metadata`` where the package files are."""
    packages: Path | None = op.get_context().config.attributes.get("packages_dir")  # type: ignore[union-attr]
    stored = sa.table("file_metadata", sa.column("file_id"), sa.column("content"))
    files = sa.table("files", sa.column("id"), sa.column("filename"))
    listed = bind.execute(
        sa.select(stored.c.file_id, files.c.filename).join(files, files.c.id == stored.c.file_id)
    ).all()
    chunks = sa.table("file_chunks", sa.column("filename"), sa.column("seq"), sa.column("data"))
    for file_id, filename in listed:  # one METADATA (at most 16 MiB) in memory at a time
        content = bind.execute(
            sa.select(stored.c.content).where(stored.c.file_id == file_id)
        ).scalar_one()
        name = str(filename) + ".metadata"
        data = bytes(content)
        if packages is None:
            bind.execute(sa.delete(chunks).where(chunks.c.filename == name))
            for seq, start in enumerate(range(0, len(data), _CHUNK)):
                bind.execute(
                    sa.insert(chunks).values(
                        filename=name, seq=seq, data=data[start : start + _CHUNK]
                    )
                )
        else:
            from tokentool.index._store import make_private_dirs

            make_private_dirs(packages)
            # Never half-written: a temporary name, renamed over the final one.
            temp = packages / f".upload-migrate-{uuid.uuid4().hex}.part"
            with open(temp, "xb") as out:
                out.write(data)
            os.replace(temp, packages / name)
