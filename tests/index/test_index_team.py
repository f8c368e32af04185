"""Several stand-in processes on one database behave as one site (PostgreSQL, real processes).

Each test starts two or more ``tokentool index serve`` processes on one
throwaway PostgreSQL database (the package files in it too: nothing shared but
the database) and talks to them over HTTP, as a CI fleet behind a load
balancer would. PostgreSQL's own semantics that warehouse's answers depend on
(uuid parsing, name collation) are checked on the real server here as well.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import psycopg
import pytest
import requests
from helpers import (
    Harness,
    basic,
    listing,
    post_file,
    simple_json,
    spool_leftovers,
    stored_names,
    unique,
    upload_fields,
    write_wheel,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pgcluster import Cluster

from tokentool.index import DATABASE_ENV, RunningServer, start_server
from tokentool.index._auth import _PG_UUID
from tokentool.index._migrate import head
from tokentool.index._store import Spool


@contextlib.contextmanager
def site(
    tmp_path: Path, url: str, count: int = 2, **options: object
) -> Iterator[list[RunningServer]]:
    """``count`` stand-ins on one database, package files in it."""
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                start_server(
                    tmp_path / f"server{n}", database=url, files_in_database=True, **options
                )
            )
            for n in range(count)
        ]
        yield servers


def make_wheel(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_wheel(folder, name, version)


def download(server: RunningServer, entry: dict) -> bytes:
    response = requests.get(urljoin(server.simple_url, entry["url"]), timeout=30)
    assert response.status_code == 200, response.status_code
    return response.content


def test_what_one_accepts_every_other_lists_and_serves(postgres: Cluster, tmp_path):
    with site(tmp_path, postgres.new_database(), count=3) as (a, b, c):
        token = a.mint("carol")  # minted through one process's database: valid on all
        name = unique("shared")
        wheel = make_wheel(tmp_path, name, "1.0")
        assert post_file(a, token, wheel, name, "1.0", "bdist_wheel").status_code == 200
        for server in (b, c):
            (entry,) = simple_json(server, name)["files"]
            assert download(server, entry) == wheel.read_bytes()
            assert name in requests.get(server.simple_url, timeout=10).text
        # A second file through another process: one history, one serial everywhere.
        second = make_wheel(tmp_path / "2", name, "2.0")
        assert post_file(b, token, second, name, "2.0", "bdist_wheel").status_code == 200
        serials = {
            requests.get(f"{s.simple_url}{name}/", timeout=10).headers["X-PyPI-Last-Serial"]
            for s in (a, b, c)
        }
        assert len(serials) == 1
        # Revoked once (the CLI on the database), refused by every process.
        (row,) = [t for t in listing(a)["tokens"] if t["user"] == "carol"]
        env = {**os.environ, DATABASE_ENV: a.database}
        revoke = [sys.executable, "-m", "tokentool.index", "revoke", row["identifier"]]
        ran = subprocess.run(
            [*revoke, "--database", f"env:{DATABASE_ENV}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stderr
        third = make_wheel(tmp_path / "3", name, "3.0")
        for server in (a, b, c):
            answer = post_file(server, token, third, name, "3.0", "bdist_wheel")
            assert answer.status_code == 403


def test_roles_are_the_databases_whichever_process_judges(postgres: Cluster, tmp_path):
    with site(tmp_path, postgres.new_database()) as (a, b):
        name = unique("owned")
        wheel = make_wheel(tmp_path, name, "1.0")
        assert post_file(a, a.mint("owner"), wheel, name, "1.0", "bdist_wheel").status_code == 200
        other = make_wheel(tmp_path / "o", name, "2.0")
        answer = post_file(b, b.mint("stranger"), other, name, "2.0", "bdist_wheel")
        assert answer.status_code == 403
        assert "isn't allowed to upload to project" in answer.reason


def test_new_project_limit_is_counted_across_processes(postgres: Cluster, tmp_path):
    with site(tmp_path, postgres.new_database(), new_project_limit=3) as servers:
        token = servers[0].mint("eager")
        answers = []
        for n in range(5):
            name = unique("limited")
            wheel = make_wheel(tmp_path / str(n), name, "1.0")
            server = servers[n % 2]  # round robin, as behind a load balancer
            answers.append(post_file(server, token, wheel, name, "1.0", "bdist_wheel"))
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3].reason == "Too many new projects created"


def test_the_creation_race_has_one_winner_across_processes(postgres: Cluster, tmp_path):
    clients = 8
    with site(tmp_path, postgres.new_database(), new_project_limit=0) as servers:
        for _round in range(3):
            name = unique("race")
            users = [unique("racer") for _ in range(clients)]
            tokens = [servers[0].mint(u) for u in users]
            wheels = [make_wheel(tmp_path / name, name, f"0.{n}") for n in range(clients)]
            start = threading.Barrier(clients, timeout=60)

            def one(n: int, name=name, tokens=tokens, wheels=wheels, start=start):
                start.wait()
                return post_file(
                    servers[n % 2], tokens[n], wheels[n], name, f"0.{n}", "bdist_wheel"
                )

            with ThreadPoolExecutor(clients) as pool:
                answers = list(pool.map(one, range(clients)))
            winners = [n for n, r in enumerate(answers) if r.status_code == 200]
            assert len(winners) == 1, [a.status_code for a in answers]
            assert {a.status_code for a in answers} - {200} <= {400, 403, 409}
            (project,) = [p for p in listing(servers[1])["projects"] if p["name"] == name]
            assert project["owners"] == [users[winners[0]]]
            assert project["files"] == [wheels[winners[0]].name]


def test_a_starting_process_never_removes_an_upload_in_flight(tmp_path):
    """The issue's attack: B starting on the folder A serves. A's partial upload is held by
    A's lock; only a dead process's leftovers go. (SQLite on one folder, as PostgreSQL
    with a shared --data-dir: the same spool.)"""
    data = tmp_path / "data"
    with start_server(data):
        pass
    spool = Spool(data / "spool")  # a live process receiving an upload
    in_flight = spool.new_temp()
    in_flight.write_bytes(b"half an upload")
    with start_server(data) as server:
        assert in_flight.exists()
        assert "removed" not in server.log_path.read_text(encoding="utf-8")
    os.close(spool._fd)  # the process dies (kill -9: its lock file stays, unlocked)
    with start_server(data) as server:
        assert not in_flight.exists()
        assert "removed a partial upload of a process that is gone" in server.log_path.read_text(
            encoding="utf-8"
        )


def test_restarts_beside_a_busy_process_lose_nothing(postgres: Cluster, tmp_path):
    """A takes uploads while B is started and stopped again and again on the same site:
    every acknowledged file stays listed and served (the issue lost 10 of 145)."""
    url = postgres.new_database()
    folder = tmp_path / "shared"  # files in a shared folder this time: the reconcile path
    a = start_server(folder, database=url)
    acknowledged: list[tuple[str, Path]] = []
    stop = threading.Event()

    def uploads() -> None:
        token = a.mint("steady")
        name = unique("steady")
        n = 0
        while not stop.is_set():
            n += 1
            wheel = make_wheel(tmp_path / "w" / str(n), name, f"1.{n}")
            if post_file(a, token, wheel, name, f"1.{n}", "bdist_wheel").status_code == 200:
                acknowledged.append((name, wheel))

    with a:
        thread = threading.Thread(target=uploads)
        thread.start()
        try:
            for _ in range(6):
                with start_server(folder, database=url):
                    pass
        finally:
            stop.set()
            thread.join(60)
        assert len(acknowledged) > 5, "A acknowledged too little for the test to mean anything"
        name = acknowledged[0][0]
        served = {e["filename"]: e for e in simple_json(a, name)["files"]}
        for _name, wheel in acknowledged:
            assert download(a, served[wheel.name]) == wheel.read_bytes()


def test_kill9_one_process_while_all_take_uploads(postgres: Cluster, tmp_path):
    url = postgres.new_database()
    clients, rounds = 4, 4
    rng = random.Random(17)
    acknowledged: set[str] = set()
    attempted: dict[str, Path] = {}
    lock = threading.Lock()
    counter = iter(range(1_000_000))
    servers = [
        start_server(tmp_path / f"s{n}", database=url, files_in_database=True, new_project_limit=0)
        for n in range(2)
    ]
    tokens = [servers[0].mint(f"crasher{n}") for n in range(clients)]
    survivor_after_kill: list[int] = []

    def uploader(number: int, stop: threading.Event, killed_at: list[float]) -> None:
        project = f"kill-{number}"
        while not stop.is_set():
            server = servers[number % 2]
            version = f"1.{next(counter)}"
            wheel = make_wheel(tmp_path / "w" / version, project, version)
            with lock:
                attempted[wheel.name] = wheel
            data = wheel.read_bytes()
            try:
                answer = requests.post(
                    server.upload_url,
                    data=upload_fields(project, version, data, extra={"metadata_version": "2.1"}),
                    files={"content": (wheel.name, data, "application/octet-stream")},
                    headers={"Authorization": basic(tokens[number])},
                    timeout=30,
                )
            except requests.RequestException:
                time.sleep(0.05)  # the process died under us; the next round restarts it
                continue
            if answer.status_code == 200:
                with lock:
                    acknowledged.add(wheel.name)
                    if killed_at and number % 2 == 1:
                        survivor_after_kill.append(1)

    try:
        for _ in range(rounds):
            stop = threading.Event()
            killed_at: list[float] = []
            threads = [
                threading.Thread(target=uploader, args=(n, stop, killed_at)) for n in range(clients)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 0.8))
            servers[0].process.send_signal(signal.SIGKILL)  # mid-upload, whatever it was doing
            servers[0].process.wait(10)
            killed_at.append(time.monotonic())
            time.sleep(0.5)  # the survivor keeps taking uploads meanwhile
            stop.set()
            for t in threads:
                t.join(60)
            servers[0].stop()
            servers[0] = start_server(
                tmp_path / "s0", database=url, files_in_database=True, new_project_limit=0
            )
        assert acknowledged, "no upload was acknowledged: the test measured nothing"
        assert survivor_after_kill, "the survivor acknowledged nothing after a kill"
        published = {f for p in listing(servers[1])["projects"] for f in p["files"]}
        assert acknowledged <= published  # nothing acknowledged lost
        assert published <= set(attempted)  # nothing that was not sent
        # Nothing unacknowledged published: only uploads cut off by the kill may be
        # published without an answer (their commit went through, the answer did not).
        # No content without a row (a wheel's PEP 658 metadata file beside each wheel).
        metadata = {f + ".metadata" for f in published if f.endswith(".whl")}
        assert set(stored_names(servers[1])) == published | metadata
        for server in servers:
            by_name = {}
            for project in {p for p in (f"kill-{n}" for n in range(clients))}:
                for entry in simple_json(server, project)["files"]:
                    by_name[entry["filename"]] = entry
            assert set(by_name) == published
            for filename in rng.sample(sorted(published), min(10, len(published))):
                assert download(server, by_name[filename]) == attempted[filename].read_bytes()
        assert spool_leftovers(servers[0]) == []  # the restart swept the killed one's spool
    finally:
        for server in servers:
            server.stop()


# --- PostgreSQL's own semantics (rules/README.md) ------------------------------------


HEX = "0123456789abcdefABCDEF"


@st.composite
def uuid_like(draw: st.DrawFn) -> str:
    """Texts near a UUID: hyphens anywhere, braces, prefixes, case, wrong lengths."""
    digits = draw(st.lists(st.sampled_from(HEX), min_size=30, max_size=34))
    text = ""
    for n, d in enumerate(digits):
        if draw(st.integers(0, 9)) == 0:
            text += draw(st.sampled_from(["-", "--", " ", "{", "}"]))
        elif n in (8, 12, 16, 20) and draw(st.booleans()):
            text += "-"
        text += d
    prefix = draw(st.sampled_from(["", "", "{", "urn:uuid:", "URN:UUID:"]))
    suffix = "}" if prefix == "{" and draw(st.booleans()) else ""
    return prefix + text + suffix


@settings(max_examples=300, deadline=None)
@given(text=uuid_like())
def test_the_sqlite_model_of_uuid_parsing_is_postgresqls(pg_connection, text):
    """On SQLite the stand-in answers 500 where PostgreSQL's uuid input would fail; this is
    the real server's verdict on the same texts (and Python's uuid.UUID accepting first)."""
    try:
        pg_connection.execute("SELECT %s::uuid", (text,))
        parsed = True
    except psycopg.errors.InvalidTextRepresentation:
        parsed = False
    assert parsed == bool(_PG_UUID.fullmatch(text)), text


@pytest.fixture(scope="module")
def pg_connection(postgres: Cluster):
    with psycopg.connect(postgres.admin_url, autocommit=True) as conn:
        yield conn


def test_a_urn_identifier_is_a_500_from_the_server_itself(postgres: Cluster, tmp_path):
    """warehouse: uuid.UUID accepts ``urn:uuid:``, then PostgreSQL's uuid input refuses it
    in the query: 500. The same identifier without the prefix is merely unknown: 403."""
    import uuid

    import tokentool

    with site(tmp_path, postgres.new_database(), count=1) as (server,):
        wheel = make_wheel(tmp_path, "urn", "1.0")
        for identifier, status in (
            (uuid.uuid4().urn, 500),
            ("{" + uuid.uuid4().hex + "}", 403),
        ):
            raw = tokentool.mint(
                domain="localhost",
                identifier=identifier,
                key=os.urandom(32),
                user_id=str(uuid.uuid4()),
            )
            answer = post_file(server, raw, wheel, "urn", "1.0", "bdist_wheel")
            assert answer.status_code == status, (identifier, answer.reason)


def test_the_index_is_in_the_databases_collation(postgres: Cluster, tmp_path):
    """warehouse: ``order_by(Project.normalized_name)``, in the database's collation. In C
    order ``-`` sorts before letters; a collation that ignores punctuation (glibc's
    en_US, ICU with alternate=shifted) puts ``a-c`` between ``ab`` and ``ad``."""
    names = ["ad", "a-c", "ab"]
    orders = {}
    for label, options in {
        "C": "",
        "shifted": "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und-u-ka-shifted' "
        "LOCALE 'C.UTF-8'",
    }.items():
        url = postgres.new_database(options=options)
        with site(tmp_path / label, url, count=1) as (server,):
            token = server.mint("sorter")
            for name in names:
                folder = tmp_path / label / name
                folder.mkdir(parents=True)
                wheel = make_wheel(folder, name, "1.0")
                assert (
                    post_file(server, token, wheel, name, "1.0", "bdist_wheel").status_code == 200
                )
            page = requests.get(
                server.simple_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}
            ).json()
            orders[label] = [p["name"] for p in page["projects"]]
    assert orders == {"C": ["a-c", "ab", "ad"], "shifted": ["ab", "a-c", "ad"]}


def test_an_unreachable_database_is_a_clear_503_and_then_recovers(postgres: Cluster, tmp_path):
    """Cut off (connections refused, open ones terminated): every request answers 503 with
    the reason, an upload writes nothing; back, and the same process serves again."""
    url = postgres.new_database()
    dbname = url.rpartition("/")[2].partition("?")[0]
    with site(tmp_path, url, count=1) as (server,):
        token = server.mint("patient")
        name = unique("outage")
        wheel = make_wheel(tmp_path, name, "1.0")
        with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )
            try:
                for answer in (
                    requests.get(server.simple_url, timeout=30),
                    requests.get(f"{server.simple_url}{name}/", timeout=30),
                    post_file(server, token, wheel, name, "1.0", "bdist_wheel"),
                ):
                    assert (answer.status_code, answer.reason) == (
                        503,
                        "Service Unavailable: the database is unreachable.",
                    )
            finally:
                admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        assert name not in requests.get(server.simple_url, timeout=30).text  # nothing half-done
        assert post_file(server, token, wheel, name, "1.0", "bdist_wheel").status_code == 200
        (entry,) = simple_json(server, name)["files"]
        assert download(server, entry) == wheel.read_bytes()
        assert "Traceback" not in server.log_path.read_text(encoding="utf-8")


def test_migrate_copies_a_sqlite_folder_into_postgresql(postgres: Cluster, tmp_path):
    folder = tmp_path / "solo"
    with start_server(folder) as solo:
        token = solo.mint("mover")
        name = unique("moved")
        wheels = [make_wheel(tmp_path / v, name, v) for v in ("1.0", "2.0")]
        for wheel, version in zip(wheels, ("1.0", "2.0"), strict=True):
            described = post_file(
                solo, token, wheel, name, version, "bdist_wheel", description=f"moved {version}"
            )
            assert described.status_code == 200
        index = solo.index()
        index.delete(name, "2.0", wheels[1].name)
        index.close()
        serial = requests.get(f"{solo.simple_url}{name}/", timeout=10).headers["X-PyPI-Last-Serial"]
    url = postgres.new_database()
    env = {**os.environ, DATABASE_ENV: url}
    argv = [sys.executable, "-m", "tokentool.index", "migrate", "--data-dir", str(folder)]
    argv += ["--to", f"env:{DATABASE_ENV}"]
    ran = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "1 package files into the database" in ran.stderr
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert again.stderr == "tokentool: error: the target database already has users: not empty\n"
    with site(tmp_path / "team", url, count=1) as (server,):
        (entry,) = simple_json(server, name)["files"]
        assert download(server, entry) == wheels[0].read_bytes()
        # The journal, the descriptions (stored apart) and the PEP 658 metadata files.
        page = requests.get(f"{server.simple_url}{name}/", timeout=10)
        assert page.headers["X-PyPI-Last-Serial"] == serial
        api = requests.get(f"{server.url}pypi/{name}/1.0/json", timeout=10).json()
        assert api["info"]["description"] == "moved 1.0"
        metadata = requests.get(urljoin(server.simple_url, entry["url"]) + ".metadata", timeout=10)
        assert metadata.status_code == 200
        assert f"Name: {name}".encode() in metadata.content
        assert hashlib.sha256(metadata.content).hexdigest() == entry["core-metadata"]["sha256"]
        # The token still works; the deleted name stays taken; serials go on.
        refused = post_file(server, token, wheels[1], name, "2.0", "bdist_wheel")
        assert refused.status_code == 400 and "previously used" in refused.reason
        third = make_wheel(tmp_path / "3.0", name, "3.0")
        assert post_file(server, token, third, name, "3.0", "bdist_wheel").status_code == 200
        after = requests.get(f"{server.simple_url}{name}/", timeout=10)
        assert int(after.headers["X-PyPI-Last-Serial"]) > int(serial)


def test_stand_ins_starting_together_create_the_schema_once(postgres: Cluster, tmp_path):
    url = postgres.new_database()
    with ThreadPoolExecutor(3) as pool:
        starting = [
            pool.submit(start_server, tmp_path / f"s{n}", database=url, files_in_database=True)
            for n in range(3)
        ]
        servers = [f.result() for f in starting]
    try:
        with psycopg.connect(url) as conn:
            (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert revision == (head(),)
        token = servers[0].mint("together")
        wheel = make_wheel(tmp_path, "together", "1.0")
        assert (
            post_file(servers[1], token, wheel, "together", "1.0", "bdist_wheel").status_code == 200
        )
        assert "together" in requests.get(servers[2].simple_url, timeout=10).text
    finally:
        for server in servers:
            server.stop()


def test_an_upload_skips_the_token_row_another_upload_holds(postgres: Cluster, tmp_path):
    """warehouse's ``verify`` updates ``last_used`` with ``SKIP LOCKED``: an upload with
    a token whose row another transaction holds (a concurrent upload with the same
    token) neither waits for it nor is refused; only the holder records the time."""
    url = postgres.new_database()
    with Harness(None, url, new_project_limit=0) as h:
        token = h.mint("shared")
        user_id = h.db.reader().user_id("shared")
        (info,) = h.db.reader().user_tokens(user_id)
        wheel = write_wheel(tmp_path, unique("held"), "1.0")
        data = wheel.read_bytes()
        fields = upload_fields(wheel.name.split("-")[0], "1.0", data)
        answers: list[int] = []
        with psycopg.connect(url) as holder:
            holder.execute("SELECT 1 FROM tokens WHERE id = %s FOR UPDATE", (info.id,))
            thread = threading.Thread(
                target=lambda: answers.append(
                    h.post(fields, (wheel.name, data, "application/octet-stream"), token).status
                )
            )
            thread.start()
            thread.join(30)  # waiting for the row would last until the holder ends
            assert not thread.is_alive(), "the upload waited for the token's row"
            holder.rollback()
        assert answers == [200]
        (after,) = h.db.reader().user_tokens(user_id)
        assert after.last_used is None
