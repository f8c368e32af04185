"""``tokentool conformance`` against real indexes on 127.0.0.1; nothing is ever stored.

The stand-in answers everything as predicted (its answers are the
predictions' source); started with a forklift domain it differs on the
missing ``:action``; a bare pypiserver differs and gets no file at all; an
index that forgets caveats is a SECURITY failure. Each run leaves the index's
stored files and rows as they were.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    LenientIndex,
    PypiServer,
    closed_port,
    invoke,
    listing,
    twine_upload,
    unique,
    write_dists,
    write_env,
)

import tokentool
from tokentool import conformance
from tokentool.exceptions import ConfigError
from tokentool.index import RunningServer, start_server


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _existing(server: RunningServer, tmp_path: Path) -> tuple[str, str]:
    """(user-wide token, project as typed) with the project created by a real upload."""
    token = server.mint(unique("user"))
    name = unique("Conf.")
    ran = twine_upload(server.upload_url, token, write_dists(tmp_path / "seed", name).wheel)
    assert ran.returncode == 0, ran.output
    return token, name


def test_the_stand_in_answers_everything_as_predicted(
    index_server: RunningServer, tmp_path: Path
) -> None:
    token, name = _existing(index_server, tmp_path)
    before = (listing(index_server.data_dir), _files(index_server.data_dir / "packages"))
    report = conformance.conformance(index_server.upload_url, tokentool.load(token), name.lower())
    assert [case.name for case in report.cases] == list(conformance.QUESTIONS)
    assert [c.name for c in report.cases if not c.as_predicted] == []
    assert report.exit_code == 0, conformance.format_table(report)
    assert report.requests <= conformance.MAX_REQUESTS
    assert report.bytes <= conformance.MAX_BYTES
    by_name = {case.name: case for case in report.cases}
    # The words quote the stored name, as warehouse's do.
    assert by_name["other-project"].answer == (
        f"403 Invalid API Token: project-scoped token is not valid for project: {name!r}"
    )
    assert by_name["no-action"].answer == "404 Not Found"
    assert by_name["filename"].answer.startswith(f"400 Start filename for {name!r} with ")
    assert (listing(index_server.data_dir), _files(index_server.data_dir / "packages")) == before


@pytest.fixture(scope="module")
def forklift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("forklift"), forklift_domain="127.0.0.1") as server:
        yield server


def test_a_forklift_domain_shows_as_405_and_the_cli_prints_json(
    forklift: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    token, name = _existing(forklift, tmp_path)
    before = (listing(forklift.data_dir), _files(forklift.data_dir / "packages"))
    write_env(tmp_path, TOKEN=token)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for key in ("TOKEN", "TWINE_PASSWORD", "REPOSITORY_URL", "INDEX_URL"):
        monkeypatch.delenv(key, raising=False)
    from tokentool.cli import main

    code = main(["conformance", "--repository-url", forklift.upload_url, "-p", name, "--json"])
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert code == 1, out.err
    cases = {case["name"]: case for case in data["cases"]}
    assert set(cases["no-action"]) == {"name", "predicted", "answer", "as_predicted"}
    assert cases["no-action"] == {
        "name": "no-action",
        "predicted": "404 Not Found",
        "answer": "405 Method Not Allowed",
        "as_predicted": False,
    }
    # Everything about the token is as predicted; the misnamed file is not risked.
    assert all(c["as_predicted"] for n, c in cases.items() if n not in ("no-action", "filename"))
    assert cases["filename"]["answer"] == "(not asked): an answer differed"
    assert token[5:25] not in out.out + out.err
    assert (listing(forklift.data_dir), _files(forklift.data_dir / "packages")) == before


@pytest.mark.slow
def test_a_bare_pypiserver_differs_and_gets_no_file(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    write_dists(packages, "conf-pypiserver", "1.0")
    server = PypiServer(packages)
    try:
        before = _files(packages)
        raw = tokentool.mint(
            domain="127.0.0.1",
            identifier=str(uuid.uuid4()),
            key=os.urandom(32),
            user_id=str(uuid.uuid4()),
        )
        report = conformance.conformance(server.url, tokentool.load(raw), "conf-pypiserver")
    finally:
        server.stop()
    assert report.exit_code == 1, conformance.format_table(report)
    by_name = {case.name: case for case in report.cases}
    assert not any(case.security for case in report.cases)
    # pypiserver has no /pypi/NAME/json, no PEP 691 and no identity check: no file is sent.
    assert not by_name["json-api"].as_predicted and not by_name["no-credentials"].as_predicted
    assert by_name["wrong-digest"].answer.startswith("(not asked)")
    assert _files(packages) == before


def test_an_index_that_forgets_caveats_is_a_security_failure(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    with LenientIndex(packages, {"conf-lenient"}) as index:
        report = conformance.conformance(index.url, tokentool.load(index.token), "conf-lenient")
    assert report.exit_code == 4, conformance.format_table(report)
    flagged = {case.name for case in report.cases if case.security}
    assert {"other-project", "expired", "not-yet-valid", "other-user"} <= flagged
    assert "SECURITY" in conformance.format_table(report)
    assert list(packages.iterdir()) == []


def test_it_cannot_run_on_a_missing_project_or_a_closed_port(
    index_server: RunningServer,
) -> None:
    token = tokentool.load(index_server.mint(unique("user")))
    missing = conformance.conformance(index_server.upload_url, token, unique("missing"))
    assert missing.exit_code == 3 and "does not exist" in missing.stopped
    assert missing.requests == 2  # the JSON API and the simple page, nothing else
    url = f"http://127.0.0.1:{closed_port()}/legacy/"
    closed = conformance.conformance(url, token, "anything")
    assert closed.exit_code == 3 and closed.stopped.startswith("index unreachable")


def test_production_needs_allow_production() -> None:
    token = tokentool.load(
        tokentool.mint(domain="pypi.org", identifier=str(uuid.uuid4()), key=os.urandom(32))
    )
    with pytest.raises(ConfigError, match="pass --allow-production"):
        conformance.conformance("https://upload.pypi.org/legacy/", token, "x")
    with pytest.raises(ConfigError, match="backslash"):
        conformance.conformance("http://127.0.0.1:9\\@upload.pypi.org/legacy/", token, "x")


@pytest.mark.slow
def test_invoke_conformance(index_server: RunningServer, tmp_path: Path) -> None:
    token, name = _existing(index_server, tmp_path)
    write_env(tmp_path, TOKEN=token, REPOSITORY_URL=index_server.upload_url)
    ran = invoke(tmp_path, "conformance", "--project", name)
    assert ran.returncode == 0, ran.output
    assert "all 13 answers as predicted" in ran.stdout
    assert token not in ran.output and token[5:25] not in ran.output
    help_text = invoke(tmp_path, "--help", "conformance")
    assert "--allow-production" in help_text.stdout


def test_the_table_escapes_and_redacts() -> None:
    token = tokentool.mint(domain="localhost", identifier=str(uuid.uuid4()), key=os.urandom(32))
    case = conformance.Case("no-action", "404 Not Found", "404 \\x1b[2J")
    report = conformance.Report("http://x/legacy/", "p", (case,))
    text = conformance.format_table(report)
    assert "\x1b" not in text and "NO" in text and token not in text
    assert json.loads(conformance.render(report, as_json=True)) == {
        "cases": [
            {
                "name": "no-action",
                "predicted": "404 Not Found",
                "answer": "404 \\x1b[2J",
                "as_predicted": False,
            }
        ]
    }
    assert io  # the module's own imports stay used
