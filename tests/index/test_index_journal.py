"""The journal, descriptions stored apart and PEP 658 metadata files, on both backends:
revision 0004 on a database that has data, serials that never go down under
per-project locks, and what a deletion takes with it.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic import command
from helpers import Backend
from pgcluster import Cluster

from tokentool.index import _migrate
from tokentool.index import _schema as s
from tokentool.index._db import JOURNAL_LOCK, Database, NewFile, NewRelease, engine_url

METADATA = b"Metadata-Version: 2.1\nName: old\nVersion: 1.0\n"


def _engine(data_dir: Path | None, url: str | None) -> sa.Engine:
    if url is None:
        assert data_dir is not None
        data_dir.mkdir(parents=True)
        return sa.create_engine(f"sqlite:///{data_dir / 'index.sqlite3'}")
    return sa.create_engine(engine_url(url))


def _database_at_0003(data_dir: Path | None, url: str | None) -> int:
    """A database at revision 0003 (metadata in ``file_metadata`` rows, no journal) with
    one project and one wheel; returns the wheel's file id."""
    engine = _engine(data_dir, url)
    file_metadata = sa.table("file_metadata", sa.column("file_id"), sa.column("content"))
    with engine.begin() as conn:
        command.upgrade(_migrate.config(conn), "0003")
        user, project = str(uuid.uuid4()), str(uuid.uuid4())
        conn.execute(sa.insert(s.users).values(id=user, username="old", created=1.0))
        conn.execute(
            sa.insert(s.projects).values(
                id=project, name="Old", normalized_name="old", created=1.0, created_by=user
            )
        )
        file_id = conn.execute(
            sa.insert(s.files)
            .values(
                project_id=project,
                version="1.0",
                canonical_version="1",
                packagetype="bdist_wheel",
                filename="old-1.0-py3-none-any.whl",
                size=3,
                md5_digest="0" * 32,
                sha256_digest="1" * 64,
                blake2_256_digest="2" * 64,
                uploaded=2.0,
                uploaded_by=user,
                metadata_sha256=hashlib.sha256(METADATA).hexdigest(),
            )
            .returning(s.files.c.id)
        ).scalar_one()
        conn.execute(sa.insert(file_metadata).values(file_id=file_id, content=METADATA))
    engine.dispose()
    return int(file_id)


def test_revision_0004_backfills_the_journal_and_writes_the_metadata_out(
    backend: Backend, tmp_path: Path
) -> None:
    url = backend.new_database()
    data_dir = tmp_path / "data" if url is None else None  # PostgreSQL: files in it too
    file_id = _database_at_0003(data_dir, url)
    with Database(data_dir, url) as db:
        assert "file_metadata" not in sa.inspect(db.engine).get_table_names()
        opened = db.storage.open("old-1.0-py3-none-any.whl.metadata", None)
        assert opened is not None
        stream, size = opened
        try:
            assert (stream.read(), size) == (METADATA, len(METADATA))
        finally:
            stream.close()
        reader = db.reader()
        project = reader.project("old")
        assert project is not None
        # The serial the old code showed (the newest file's id) is the journal's now...
        assert reader.last_serial() == reader.last_serial(project.id) == file_id
        with db.read_connection() as conn:
            entry = conn.execute(sa.select(s.journals.c.id, s.journals.c.action)).one()
        assert tuple(entry) == (file_id, "add file old-1.0-py3-none-any.whl")
        # ...and the next entry goes on from it.
        with db.transaction(scope=["project:old"]) as tx:
            tx.journal("old", "1.0", "remove file old-1.0-py3-none-any.whl", None)
        assert reader.last_serial(project.id) == file_id + 1


def test_a_deleted_release_takes_its_description_and_metadata_file(
    backend: Backend, tmp_path: Path
) -> None:
    url = backend.new_database()
    with Database(tmp_path / "data" if url is None else None, url) as db:
        with db.transaction() as tx:
            user = tx.ensure_user("owner")
            project = tx.create_project("Gone", "gone", user)
            release = NewRelease(project.id, "1.0", "1", None, False, "{}", b"x" * 3_000_000)
            assert tx.ensure_release(release) is True
            assert tx.ensure_release(release) is False  # the first file's stays
            tx.add_file(
                NewFile(
                    project.id, "1.0", "1", "bdist_wheel", "gone-1.0-py3-none-any.whl", 0,
                    "0" * 32, "1" * 64, "2" * 64, user, metadata_hashes={"sha256": "3" * 64},
                )
            )  # fmt: skip
        reader = db.reader()
        stored = reader.description(project.id, "1")
        assert stored is not None and stored.size == 3_000_000
        pieces = list(reader.description_chunks(stored, 1024 * 1024))
        assert [len(p) for p in pieces] == [1024 * 1024, 1024 * 1024, 3_000_000 - 2 * 1024 * 1024]
        assert reader.description_text(project.id, "1") == "x" * 3_000_000
        with db.transaction() as tx:
            tx.delete_release(project.id, "1")
        assert reader.description(project.id, "1") is None
        assert reader.description_text(project.id, "1") == ""
        assert reader.recorded_metadata() == []


def test_a_journal_entry_waits_for_the_one_before_it_to_commit(
    postgres: Cluster, tmp_path: Path
) -> None:
    """Uploads to different projects run in parallel (per-project locks), but the
    journal's ids are taken under one site-wide lock held to the commit: a later
    entry gets a larger id and becomes visible after the earlier one, so a reader
    never sees a serial appear below one it has seen."""
    url = postgres.new_database()
    with Database(None, url) as db:
        with psycopg.connect(url) as other:  # a transaction between its journal and commit
            other.execute("SELECT pg_advisory_xact_lock(%s)", (JOURNAL_LOCK,))
            first = other.execute(
                "INSERT INTO journals (name, action, submitted_date) "
                "VALUES ('a', 'create', 0) RETURNING id"
            ).fetchone()[0]
            done = threading.Event()

            def later() -> None:
                with db.transaction(scope=["project:b"]) as tx:
                    tx.journal("b", None, "create", None)
                done.set()

            thread = threading.Thread(target=later)
            thread.start()
            time.sleep(1.0)
            assert not done.is_set(), "the second entry did not wait for the first's commit"
            assert db.reader().last_serial() == 0
            other.commit()
            thread.join(30)
        assert done.is_set()
        with db.read_connection() as conn:
            rows = conn.execute(
                sa.select(s.journals.c.name, s.journals.c.id).order_by(s.journals.c.id)
            ).all()
        assert [r[0] for r in rows] == ["a", "b"] and rows[0][1] == first
        assert db.reader().last_serial() == rows[1][1] > first
