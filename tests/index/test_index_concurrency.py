"""Concurrency and faults: many clients at once lose and corrupt nothing; junk gets a 4xx.

Uploads here are posted with ``requests`` (200 twine processes would test
process start-up, not the server); the reference-table rows in test_index.py
use the real twine CLI.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from helpers import (
    basic,
    listing,
    spool_leftovers,
    stored_bytes,
    stored_names,
    unique,
    upload_fields,
    write_wheel,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokentool.index import RunningServer

CLIENTS = 8
UPLOADS_PER_CLIENT = 25


def upload(session: requests.Session, server: RunningServer, token: str, wheel: Path, name: str):
    data = wheel.read_bytes()
    version = wheel.name.split("-")[1]
    fields = upload_fields(name, version, data, extra={"metadata_version": "2.1"})
    return session.post(
        server.upload_url,
        data=fields,
        files={"content": (wheel.name, data, "application/octet-stream")},
        headers={"Authorization": basic(token)},
        timeout=60,
    )


def snapshot(server: RunningServer) -> tuple[dict, list[str]]:
    return listing(server), stored_names(server)


def test_many_clients_lose_nothing(index_server, tmp_path):
    jobs = []
    for client in range(CLIENTS):
        name = unique(f"c{client}")
        token = index_server.mint(unique("user"))
        wheels = [
            write_wheel(tmp_path / name, name, f"1.{n}")
            for n in range(UPLOADS_PER_CLIENT)
            if (tmp_path / name).mkdir(exist_ok=True) is None
        ]
        jobs.append((name, token, wheels))
    start = threading.Barrier(CLIENTS, timeout=60)

    def client(job: tuple[str, str, list[Path]]) -> list[int]:
        name, token, wheels = job
        with requests.Session() as session:
            start.wait()
            return [upload(session, index_server, token, w, name).status_code for w in wheels]

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(client, jobs))
    assert statuses == [[200] * UPLOADS_PER_CLIENT] * CLIENTS

    listing, files = snapshot(index_server)
    by_name = {p["name"]: p for p in listing["projects"]}
    for name, _token, wheels in jobs:
        expected = sorted(w.name for w in wheels)
        assert by_name[name]["files"] == expected
        page = requests.get(f"{index_server.simple_url}{name}/", timeout=30).text
        assert all(f">{w}<" in page for w in expected)
        for wheel in wheels:
            assert stored_bytes(index_server, wheel.name) == wheel.read_bytes()
    assert not [f for f in files if f.startswith(".")]
    assert spool_leftovers(index_server) == []  # no temporary file left


def test_racing_first_uploads_make_one_owner(index_server, tmp_path):
    name = unique("race")
    users = [unique("user") for _ in range(CLIENTS)]
    tokens = [index_server.mint(u) for u in users]
    wheels = [write_wheel(tmp_path, name, f"0.{n}") for n in range(CLIENTS)]
    start = threading.Barrier(CLIENTS, timeout=60)

    def one(n: int) -> requests.Response:
        start.wait()
        with requests.Session() as session:
            return upload(session, index_server, tokens[n], wheels[n], name)

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(one, range(CLIENTS)))
    winners = [n for n, r in enumerate(responses) if r.status_code == 200]
    assert len(winners) == 1
    project = next(p for p in snapshot(index_server)[0]["projects"] if p["name"] == name)
    assert project["owners"] == [users[winners[0]]]
    assert project["files"] == [wheels[winners[0]].name]
    for n, response in enumerate(responses):
        if n not in winners:
            # Warehouse's check_project_name sees a project committed meanwhile: 409;
            # committed between its existence and its similarity queries (each sees
            # the latest commit): "too similar", 400; one created after the checks
            # is judged in the transaction: 403.
            assert response.status_code in (400, 403, 409)
            if response.status_code == 409:
                assert response.reason.startswith(
                    f"The name '{name}' conflicts with an existing project."
                )
            elif response.status_code == 400:
                assert response.reason.startswith(
                    f"The name '{name}' is too similar to an existing project."
                )
            else:
                assert response.reason.startswith(f"The user '{users[n]}' isn't allowed")


def test_racing_same_filename_keeps_one_content(index_server, tmp_path):
    name = unique("same")
    token = index_server.mint(unique("user"))
    wheels = []
    for n in range(CLIENTS):
        folder = tmp_path / str(n)
        folder.mkdir()
        wheels.append(write_wheel(folder, name, "1.0", marker=str(n)))
    # Create the project first so only the file races.
    with requests.Session() as session:
        first = write_wheel(tmp_path, name, "0.1")
        assert upload(session, index_server, token, first, name).status_code == 200
    start = threading.Barrier(CLIENTS, timeout=60)

    def one(n: int) -> requests.Response:
        start.wait()
        with requests.Session() as session:
            return upload(session, index_server, token, wheels[n], name)

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(one, range(CLIENTS)))
    winners = [n for n, r in enumerate(responses) if r.status_code == 200]
    assert len(winners) == 1
    assert all(
        r.status_code == 400 and r.reason.startswith("File already exists (")
        for n, r in enumerate(responses)
        if n != winners[0]
    )
    stored = stored_bytes(index_server, wheels[0].name)
    assert stored == wheels[winners[0]].read_bytes()


def raw_request(
    server: RunningServer, head: bytes, body: bytes, *, half_close: bool, timeout: float = 10
) -> int | None:
    """Send bytes as they are (no client-side validation); the final status, if any.

    ``half_close`` ends the client's side after sending (for bodies whose framing
    says more is coming); otherwise the request is complete and must be answered.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):  # the server closes: Connection: close
            data += chunk
    statuses = [
        int(line.split()[1])
        for line in data.split(b"\r\n")
        if line.startswith(b"HTTP/1.1 ") and len(line.split()) > 1
    ]
    final = [s for s in statuses if s >= 200]
    return final[0] if final else None


_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"))


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    boundary = draw(st.text("abcdefXYZ0123456789-'()+_,./:=?", min_size=1, max_size=70))
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "content",
                        "name",
                        "version",
                        "filetype",
                        "sha256_digest",
                        "protocol_version",
                        ":action",
                        "metadata_version",
                        "pyversion",
                        "gpg_signature",
                    ]
                ),
                _text,
            )
        )
        filename = draw(st.one_of(st.none(), _text, st.just("x-1.0-py3-none-any.whl")))
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        extra = draw(st.lists(_text, max_size=2))
        value = draw(st.binary(max_size=300))
        head = "".join(
            [f"Content-Disposition: {disposition}\r\n", *(f"{e}\r\n" for e in extra), "\r\n"]
        )
        parts.append(f"--{boundary}\r\n".encode("latin-1") + head.encode("latin-1") + value)
    ending = draw(st.sampled_from([f"\r\n--{boundary}--\r\n", "", f"--{boundary}", "\r\n"]))
    body = b"\r\n".join(parts) + ending.encode("latin-1")
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                "application/x-www-form-urlencoded",
                "text/plain",
            ]
        )
    )
    return content_type, body


@pytest.fixture(scope="module")
def intruder(index_server, tmp_path_factory) -> tuple[str, str]:
    """A project owned by someone else, and a valid token of a user without a role on it."""
    name = unique("victim")
    owner = index_server.mint(unique("owner"))
    wheel = write_wheel(tmp_path_factory.mktemp("victim"), name, "1.0")
    with requests.Session() as session:
        assert upload(session, index_server, owner, wheel, name).status_code == 200
    return name, index_server.mint(unique("intruder"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        multipart_bodies(),
        st.tuples(st.sampled_from(["multipart/form-data; boundary=x", "", "a/b"]), st.binary()),
    ),
    auth=st.sampled_from(["none", "valid", "garbage", "basic-garbage", "bearer-garbage"]),
    junk=_text,
    extra_header=st.one_of(
        st.none(),
        st.tuples(
            st.sampled_from(["X-A", "Transfer-Encoding", "Expect"]),
            st.one_of(_text, st.sampled_from(["chunked", "100-continue", "gzip, chunked"])),
        ),
    ),
)
def test_malformed_requests_get_4xx_and_change_nothing(
    index_server, intruder, body, auth, junk, extra_header
):
    _victim, token = intruder
    before = snapshot(index_server)
    content_type, payload = body
    authorization = {
        "none": None,
        "valid": basic(token),
        "garbage": junk,
        "basic-garbage": "Basic " + junk,
        "bearer-garbage": "Bearer pypi-" + junk,
    }[auth]
    lines = [
        "POST /legacy/ HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(payload)}",
        "Connection: close",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    if extra_header is not None:
        lines.append(f"{extra_header[0]}: {extra_header[1]}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    chunked = extra_header is not None and "chunked" in extra_header[1].lower()
    status = raw_request(index_server, head, payload, half_close=chunked)
    if status is None:
        # Only a chunked body cut short by the client's close goes unanswered.
        assert chunked
    else:
        assert 400 <= status < 500
    assert snapshot(index_server) == before


def test_valid_form_with_mutated_fields_never_5xx(index_server, intruder, tmp_path):
    victim, token = intruder
    wheel = write_wheel(tmp_path, victim, "9.0")
    data = wheel.read_bytes()
    before = snapshot(index_server)
    odd_values = ["", " ", "UNKNOWN", "\x00", "é" * 70, "1" * 5000, "..", "a/b", "pypi-x"]
    fields = [
        "name",
        "version",
        "filetype",
        "pyversion",
        "metadata_version",
        "md5_digest",
        "sha256_digest",
        "blake2_256_digest",
        "protocol_version",
        "keywords",
        "project_urls",
        "requires_dist",
        "summary",
    ]
    with requests.Session() as session:
        for field in fields:
            for value in odd_values:
                form = {
                    ":action": "file_upload",
                    "protocol_version": "1",
                    "metadata_version": "2.1",
                    "name": victim,
                    "version": "9.0",
                    "filetype": "bdist_wheel",
                    "pyversion": "py3",
                    "sha256_digest": hashlib.sha256(data).hexdigest(),
                    field: value,
                }
                response = session.post(
                    index_server.upload_url,
                    data=form,
                    files={"content": (wheel.name, data, "application/octet-stream")},
                    headers={"Authorization": basic(token)},
                    timeout=30,
                )
                assert 400 <= response.status_code < 500, (field, value, response.reason)
    assert snapshot(index_server) == before


def test_stalled_clients_do_not_block_uploads(index_server, tmp_path):
    name = unique("busy")
    token = index_server.mint(unique("user"))
    stalled = []
    try:
        for _ in range(CLIENTS + 4):  # more than the worker threads
            sock = socket.create_connection(("127.0.0.1", index_server.port), timeout=10)
            sock.sendall(
                b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                b"boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"
            )
            stalled.append(sock)
        started = time.monotonic()
        with requests.Session() as session:
            response = upload(
                session, index_server, token, write_wheel(tmp_path, name, "1.0"), name
            )
        assert response.status_code == 200
        assert time.monotonic() - started < 10
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/legacy/", 405),
        ("PUT", "/simple/", 405),
        ("POST", "/", 405),
        ("DELETE", "/packages/", 405),
    ],
)
def test_other_methods_are_refused(index_server, method, path, status):
    response = requests.request(method, index_server.url.rstrip("/") + path, timeout=10)
    assert response.status_code == status


def test_every_refusal_was_a_judged_one(index_server):
    # Runs last in this module: junk above was refused by a check, never by the catch-all.
    log = index_server.log_path.read_text(encoding="utf-8")
    assert "refused after" not in log
    assert "pypi-" not in log
