"""Faults and hostile clients: crashes, full disks, races, slow and idle connections.

Real server processes on 127.0.0.1 (loopback only), bounded in count and time.
Two races are made deterministic by running the stand-in in this process and
doing the other party's step at the exact moment it matters (a hook around the
receiving of the file, after the first look at the project).
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from helpers import (
    JSON_V1,
    archive,
    basic,
    listing,
    post_file,
    simple_json,
    stored_bytes,
    stored_names,
    stray_file,
    unique,
    upload_fields,
    write_wheel,
)

from tokentool.index import Index, start_server
from tokentool.index._migrate import head
from tokentool.index._store import ORPHAN_GRACE_SECONDS


def recorded(where) -> dict[str, list[str]]:
    return {p["name"]: p["files"] for p in listing(where)["projects"]}


def all_recorded_files(where) -> set[str]:
    return {f for files in recorded(where).values() for f in files}


# --- server-side failures answer 5xx and leave nothing half-done ---------------------


def test_name_too_long_for_storage_answers_warehouses_500(index_server, tmp_path):
    """warehouse opens ``tmpdir/filename`` right after the content-type check; a name
    past 255 bytes raises ENAMETOOLONG there, uncaught: "500 Internal Server Error",
    before the size limits and the digests are looked at."""
    name = "long-" + "n" * 250  # the sdist's filename exceeds the filesystem's 255 bytes
    filename = f"{name.replace('-', '_')}-1.0.tar.gz"
    token = index_server.mint(unique("user"))
    sdist = archive(tmp_path / "short.tar.gz", filename[: -len(".tar.gz")], name, "1.0", "x")
    before = stored_names(index_server)
    answer = post_file(
        index_server,
        token,
        sdist,
        name,
        "1.0",
        "sdist",
        upload_name=filename,
        sha256_digest="0" * 64,  # a wrong digest: not judged yet
    )
    assert (answer.status_code, answer.reason) == (500, "Internal Server Error")
    assert name not in recorded(index_server)  # no project, no row
    assert stored_names(index_server) == before
    log = index_server.log_path.read_text(encoding="utf-8")
    assert "POST /legacy/ 500" in log


def test_write_failure_is_a_server_error(tmp_path):
    """A file-size limit on the server process stands in for a full disk."""
    limit = 300 * 1024  # below waitress' in-memory body buffer (512 KiB)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        server = start_server(tmp_path / "data")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
    with server:
        token = server.mint("writer")
        small = write_wheel(tmp_path, "fits", "1.0")
        assert post_file(server, token, small, "fits", "1.0", "bdist_wheel").status_code == 200
        big = write_wheel(tmp_path, "toobig", "1.0", payload=os.urandom(400 * 1024))
        answer = post_file(server, token, big, "toobig", "1.0", "bdist_wheel")
        assert answer.status_code == 500
        assert answer.reason == "Internal Server Error: storage failed (File too large)."
        # Larger than waitress keeps in memory: its own spooling fails first, same answer.
        huge = write_wheel(tmp_path, "huge", "1.0", payload=os.urandom(700 * 1024))
        answer = post_file(server, token, huge, "huge", "1.0", "bdist_wheel")
        assert answer.status_code == 500
        assert "storage failed (File too large)" in answer.text
        assert set(recorded(server)) == {"fits"}
        assert stored_names(server) == [small.name, small.name + ".metadata"]
        assert "storage failed" in server.log_path.read_text(encoding="utf-8")


# --- crash-safe publishing ------------------------------------------------------------


def test_start_removes_leftovers_and_logs_it(tmp_path):
    data = tmp_path / "data"
    with start_server(data) as server:
        token = server.mint("keeper")
        wheel = write_wheel(tmp_path, "kept", "1.0")
        assert post_file(server, token, wheel, "kept", "1.0", "bdist_wheel").status_code == 200
    packages = data / "packages"
    (packages / ".upload-0123abcd.part").write_bytes(b"half")  # a crashed older stand-in's
    old = time.time() - 2 * ORPHAN_GRACE_SECONDS
    os.utime(packages / ".upload-0123abcd.part", (old, old))
    (packages / "orphan-1.0.tar.gz").write_bytes(b"never recorded")
    with start_server(data) as server:
        assert sorted(os.listdir(packages)) == [wheel.name, wheel.name + ".metadata"]
        log = server.log_path.read_text(encoding="utf-8")
        assert "removed a partial upload: '.upload-0123abcd.part'" in log
        assert "removed a file without a record: 'orphan-1.0.tar.gz'" in log
        (entry,) = simple_json(server, "kept")["files"]
        body = requests.get(urljoin(server.simple_url, entry["url"]), timeout=10).content
        assert body == wheel.read_bytes()


def test_kill9_during_concurrent_uploads_loses_and_leaks_nothing(tmp_path):
    data = tmp_path / "data"
    clients, kills = 4, 6
    rng = random.Random(8)
    wheels: dict[str, tuple[str, Path]] = {}  # filename -> (project, path)
    acknowledged: set[str] = set()
    attempted: set[str] = set()
    tokens: list[str] = []
    counter = iter(range(1_000_000))
    lock = threading.Lock()

    def uploader(server, number: int, stop: threading.Event) -> None:
        project = f"crash-{number}"
        with requests.Session() as session:
            while not stop.is_set():
                version = f"1.{next(counter)}"
                folder = tmp_path / "w" / version
                folder.mkdir(parents=True)
                wheel = write_wheel(folder, project, version)
                with lock:
                    wheels[wheel.name] = (project, wheel)
                    attempted.add(wheel.name)
                try:
                    data_ = wheel.read_bytes()
                    answer = session.post(
                        server.upload_url,
                        data=upload_fields(
                            project, version, data_, extra={"metadata_version": "2.1"}
                        ),
                        files={"content": (wheel.name, data_, "application/octet-stream")},
                        headers={"Authorization": basic(tokens[number])},
                        timeout=30,
                    )
                except requests.RequestException:
                    return  # the server died under us
                if answer.status_code == 200:
                    with lock:
                        acknowledged.add(wheel.name)

    for round_number in range(kills + 1):
        server = start_server(data, new_project_limit=0, threads=4)
        if not tokens:
            tokens.extend(server.mint(f"crasher{n}") for n in range(clients))
        stop = threading.Event()
        threads = [
            threading.Thread(target=uploader, args=(server, n, stop)) for n in range(clients)
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.8))
        if round_number < kills:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
        stop.set()
        for t in threads:
            t.join(60)
        server.stop()

    with start_server(data) as server:  # the last start reconciles too
        published = all_recorded_files(data)
        assert acknowledged, "no upload was acknowledged: the test measured nothing"
        assert acknowledged <= published  # 0 lost
        assert published <= attempted
        folder = set(os.listdir(data / "packages"))
        beside = {f + ".metadata" for f in published}  # PEP 658 files beside the wheels
        assert folder == published | beside  # 0 without a record, 0 leftovers, 0 rows without file
        for filename in published:
            project, path = wheels[filename]
            assert (data / "packages" / filename).read_bytes() == path.read_bytes()
        for project in {wheels[f][0] for f in published}:
            listed = {f["filename"] for f in simple_json(server, project)["files"]}
            assert listed == {f for f in published if wheels[f][0] == project}


# --- races decided inside the transaction ---------------------------------------------


def _hook_receive(monkeypatch, action) -> None:
    """Run ``action`` once, as the first upload starts receiving its file."""
    import tokentool.index._upload as upload_module

    original = upload_module.receive
    fired = threading.Event()

    def hooked(*args, **kwargs):
        if not fired.is_set():
            fired.set()
            action()
        return original(*args, **kwargs)

    monkeypatch.setattr(upload_module, "receive", hooked)


def test_token_revoked_during_upload_commits_nothing(inprocess, tmp_path, monkeypatch):
    token = inprocess.mint("revokee")
    import tokentool

    identifier = tokentool.load(token).identifier

    def revoke() -> None:
        with Index(inprocess.data_dir) as index:
            index.revoke(identifier)

    _hook_receive(monkeypatch, revoke)
    wheel = write_wheel(tmp_path, "revoked", "1.0")
    answer = post_file(inprocess, token, wheel, "revoked", "1.0", "bdist_wheel")
    assert answer.status_code == 403
    assert answer.reason.startswith("Invalid or non-existent authentication information.")
    assert recorded(inprocess.data_dir) == {}
    assert os.listdir(inprocess.data_dir / "packages") == []


def test_creation_race_with_identical_files_answers_200_and_records_nothing(
    inprocess, tmp_path, monkeypatch
):
    """warehouse's ``_is_duplicate_file`` -> ``HTTPOk()``: once the same bytes are
    there, the answer is 200 at once and nothing changes, whoever asks."""
    first, second = inprocess.mint("first"), inprocess.mint("second")
    wheel = write_wheel(tmp_path, "contested", "1.0")

    def rival_creates_it() -> None:
        answer = post_file(inprocess, first, wheel, "contested", "1.0", "bdist_wheel")
        assert answer.status_code == 200

    # "second" looks first (no project yet: may create it), then "first" creates it with
    # the same bytes before "second" records anything.
    _hook_receive(monkeypatch, rival_creates_it)
    answer = post_file(inprocess, second, wheel, "contested", "1.0", "bdist_wheel")
    assert answer.status_code == 200
    with Index(inprocess.data_dir) as index:
        (project,) = index.listing()["projects"]
    assert project["owners"] == ["first"] and project["files"] == [wheel.name]


# --- hostile connections ----------------------------------------------------------------


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < wanted:
        pytest.skip("not enough file descriptors for 1,000 connections")


def test_slowloris_and_slow_readers_do_not_deny_service(tmp_path):
    _raise_fd_limit(2400)
    with start_server(tmp_path / "data", max_upload_size=64 * 1024 * 1024, threads=4) as server:
        token = server.mint("big")
        big = write_wheel(tmp_path, "bigfile", "1.0", payload=os.urandom(24 * 1024 * 1024))
        assert post_file(server, token, big, "bigfile", "1.0", "bdist_wheel").status_code == 200
        (entry,) = simple_json(server, "bigfile")["files"]
        held: list[socket.socket] = []
        try:
            # 1,000 connections that never finish their headers (slowloris).
            for _ in range(1000):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                sock.sendall(b"GET /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                held.append(sock)
            # 12 readers (more than the 4 workers) that ask for 24 MiB and never read,
            # half of them pipelining a second request behind the first.
            for n in range(12):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(10)
                sock.connect(("127.0.0.1", server.port))
                get = f"GET {entry['url']} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                sock.sendall(get * (1 + n % 2))
                held.append(sock)
            time.sleep(0.5)
            # Everyone else is still served: a page, an upload and the whole big file.
            page = requests.get(server.simple_url, headers={"Accept": JSON_V1}, timeout=20)
            assert page.status_code == 200
            small = write_wheel(tmp_path, "stillup", "1.0")
            answer = post_file(server, token, small, "stillup", "1.0", "bdist_wheel")
            assert answer.status_code == 200
            body = requests.get(urljoin(server.simple_url, entry["url"]), timeout=60).content
            assert hashlib.sha256(body).hexdigest() == entry["hashes"]["sha256"]
        finally:
            for sock in held:
                sock.close()


# --- the data folder and the process --------------------------------------------------


def test_existing_data_dir_keeps_its_permissions(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    Index(shared).close()
    listed = subprocess.run(
        [sys.executable, "-m", "tokentool", "index", "list", "--data-dir", str(shared)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    # What it creates is private: the database, the package folder, a new data folder.
    assert stat.S_IMODE((shared / "index.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((shared / "packages").stat().st_mode) == 0o700
    fresh = tmp_path / "new" / "deeper"
    Index(fresh).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700


def test_server_process_cannot_dump_core(index_server):
    limits = Path(f"/proc/{index_server.process.pid}/limits")
    if not limits.exists():
        pytest.skip("no /proc")
    line = next(x for x in limits.read_text().splitlines() if x.startswith("Max core file size"))
    assert line.split()[4:6] == ["0", "0"]
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ctypes; from tokentool.index._server import make_undumpable; "
            "make_undumpable(); print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "0", probe.stderr


def test_identical_file_under_a_new_name_creates_no_project(index_server, tmp_path):
    owner_token = index_server.mint(unique("owner"))
    name = unique("orig")
    wheel = write_wheel(tmp_path, name, "1.0")
    assert (
        post_file(index_server, owner_token, wheel, name, "1.0", "bdist_wheel").status_code == 200
    )
    other = unique("copycat")
    answer = post_file(
        index_server, index_server.mint(unique("copier")), wheel, other, "1.0", "bdist_wheel"
    )
    assert answer.status_code == 200  # warehouse: a duplicate file is 200, changing nothing
    assert other not in recorded(index_server)


def test_an_unrecorded_file_in_the_way_is_never_overwritten(index_server, tmp_path):
    name = unique("inway")
    token = index_server.mint(unique("user"))
    wheel = write_wheel(tmp_path, name, "1.0")
    # As a crash before commit could leave it (a folder; rows can't outlive a rollback).
    with stray_file(index_server, wheel.name, b"not the upload"):
        answer = post_file(index_server, token, wheel, name, "1.0", "bdist_wheel")
        assert (answer.status_code, answer.reason) == (
            500,
            "Internal Server Error: a file of that name is in storage without a record.",
        )
        assert stored_bytes(index_server, wheel.name) == b"not the upload"
        assert name not in recorded(index_server)


def test_a_database_from_before_releases_is_upgraded_in_place(tmp_path):
    import sqlite3

    data = tmp_path / "data"
    with start_server(data) as server:
        token = server.mint("early")
        wheel = write_wheel(tmp_path, "early", "1.0")
        assert post_file(server, token, wheel, "early", "1.0", "bdist_wheel").status_code == 200
    # Back to the first schema: no releases, no stored metadata, no extra columns, and
    # from before Alembic (no alembic_version): completed, stamped, then upgraded.
    conn = sqlite3.connect(data / "index.sqlite3")
    conn.execute("DROP TABLE alembic_version")
    conn.execute("DROP TABLE file_chunks")
    conn.execute("DROP TABLE releases")
    conn.execute("DROP TABLE journals")
    for column in ("python_version", "metadata_sha256", "metadata_blake2_256"):
        conn.execute(f"ALTER TABLE files DROP COLUMN {column}")
    conn.commit()
    conn.close()
    with start_server(data) as server:
        conn = sqlite3.connect(data / "index.sqlite3")
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        conn.close()
        assert revision == [(head(),)]
        (entry,) = simple_json(server, "early")["files"]
        assert entry["filename"] == wheel.name and entry["core-metadata"] is False
        api = requests.get(f"{server.url}pypi/early/json", timeout=10).json()
        assert api["info"]["version"] == "1.0" and list(api["releases"]) == ["1.0"]
        body = requests.get(urljoin(server.simple_url, entry["url"]), timeout=10).content
        assert body == wheel.read_bytes()
        second = write_wheel(tmp_path, "early", "2.0")
        assert post_file(server, token, second, "early", "2.0", "bdist_wheel").status_code == 200
        assert (
            requests.get(f"{server.url}pypi/early/json", timeout=10).json()["info"]["version"]
            == "2.0"
        )
