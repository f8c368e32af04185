"""Every face takes the same destination decision: table-driven, (issuer x URL x flag).

The decision lives once, in ``tokentool.sites.check_destination``; this test
runs each case through the Python API (``sites``, ``workflow.upload``,
``workflow.verify_rejection``, ``workflow.probe``, ``tokentool.probe.probe``),
the ``tokentool`` command in-process (upload, verify-rejection, cycle, probe)
and, for a sample, the real ``invoke`` program. A refusal must carry the same
sentence everywhere, and a local listener proves nothing reached it; an
allowed case must reach the listener (and nothing else: every allowed URL is
loopback).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Listener, clean_environ, invoke, write_dists, write_env
from hypothesis import given, settings
from hypothesis import strategies as st

import tokentool
from tokentool import probe, sites, workflow
from tokentool._safety import escape
from tokentool.exceptions import TokenError

ISSUERS = ("test.pypi.org", "pypi.org", "pypi.internal.example", "localhost")
#: ``{port}`` is the listener's. None of these may ever reach a public host.
URLS = (
    "http://127.0.0.1:{port}\\@test.pypi.org/legacy/",
    "http://test.pypi.org/legacy/",
    "http://127.0.0.1:{port}/legacy/",
    "http://user:pw@127.0.0.1:{port}/legacy/",
    "https://upload.test.pypi.org/legacy/",
    "https://www.pypi.org/legacy/",
    "https://pypi.org/legacy/",
    "http://127.0.0.1:{port}/leg\x1b[2Jacy/",
    "https://t\u0435st.pypi.org/legacy/",  # a Cyrillic "е"
)
SENT = "sent"
PROJECT = "dest-probe"


def _raw(issuer: str) -> str:
    return tokentool.mint(
        domain=issuer, identifier=str(uuid.uuid4()), key=os.urandom(32), user_id=str(uuid.uuid4())
    )


def _expected(issuer: str, url: str, allow: bool) -> str:
    try:
        sites.check_destination(issuer, url, allow_production=True, allow_other_host=allow)
    except TokenError as exc:
        return escape(str(exc))
    return SENT


# --- the faces ---------------------------------------------------------------------------------


def _decision(listener: Listener, refusal: str | None) -> str:
    """``SENT`` when anything reached the listener, else the face's refusal (or what it said)."""
    reached = bool(listener.requests)
    listener.requests.clear()
    return SENT if reached else (refusal or "nothing sent, no refusal given")


def _python(listener: Listener, call: Callable[[], object]) -> str:
    try:
        call()
    except TokenError as exc:
        return _decision(listener, escape(str(exc)))
    return _decision(listener, None)


def _config(raw: str, url: str) -> workflow.Config:
    return workflow.load_config(None, {"TOKEN": raw}, index_url=url, keyring=False, pypirc=None)


def python_faces(
    raw: str, url: str, allow: bool, wheel: Path, listener: Listener
) -> dict[str, str]:
    return {
        "workflow.upload": _python(
            listener, lambda: workflow.upload(_config(raw, url), PROJECT, allow_other_host=allow)
        ),
        "workflow.verify_rejection": _python(
            listener,
            lambda: workflow.verify_rejection(_config(raw, url), PROJECT, allow_other_host=allow),
        ),
        "workflow.probe": _python(
            listener, lambda: workflow.probe(_config(raw, url), PROJECT, allow_other_host=allow)
        ),
        "tokentool.probe.probe": _python(
            listener, lambda: probe.probe(url, raw, PROJECT, wheel, allow_other_host=allow)
        ),
    }


def cli_faces(
    raw: str,
    url: str,
    allow: bool,
    wheel: Path,
    listener: Listener,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    from tokentool.cli import main

    flag = ["--allow-other-host"] if allow else []
    decisions = {}
    for command in ("upload", "verify-rejection", "cycle", "probe"):
        # Every face reads the token as the others do (the case's .env); probe sends the file.
        argv = [command, "--project", PROJECT]
        if command == "probe":
            argv += ["--dist", str(wheel)]
        code = main([*argv, "--repository-url", url, *flag])
        err = capsys.readouterr().err
        prefix = "tokentool: error: "
        refusal = [line[len(prefix) :] for line in err.splitlines() if line.startswith(prefix)]
        said = refusal[0] if code == 2 and refusal else None
        decisions[f"tokentool {command}"] = _decision(listener, said)
    return decisions


@pytest.fixture
def project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root to run ``tokentool`` in: no token anywhere but the one each case writes."""
    for key in ("TOKEN", "TWINE_PASSWORD", "TWINE_USERNAME", "REPOSITORY_URL", "INDEX_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", sys.stdin)  # restored after the CLI probe replaces it
    return tmp_path


@pytest.mark.parametrize("allow", [False, True], ids=["", "allow-other-host"])
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("issuer", ISSUERS)
def test_every_face_takes_the_same_decision(
    issuer: str,
    url: str,
    allow: bool,
    listener: Listener,
    project_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = url.format(port=listener.port)
    raw = _raw(issuer)
    write_env(project_root, TOKEN=raw)
    wheel = write_dists(project_root / "dist", PROJECT).wheel
    expected = _expected(issuer, url, allow)
    listener.requests.clear()

    decisions = {
        **python_faces(raw, url, allow, wheel, listener),
        **cli_faces(raw, url, allow, wheel, listener, capsys),
    }

    # SENT: the listener was reached; a refusal: the same sentence and nothing reached it.
    assert decisions == dict.fromkeys(decisions, expected)


@pytest.mark.parametrize(
    ("issuer", "url", "allow", "words"),
    [
        ("test.pypi.org", "http://127.0.0.1:{port}\\@test.pypi.org/legacy/", False, "backslash"),
        ("test.pypi.org", "http://test.pypi.org/legacy/", False, "clear text to test.pypi.org"),
        ("test.pypi.org", "https://upload.test.pypi.org/legacy/", False, "takes no uploads"),
        ("pypi.org", "https://www.pypi.org/legacy/", False, "takes no uploads"),
        ("pypi.internal.example", "http://127.0.0.1:{port}/legacy/", False, "--allow-other-host"),
        ("localhost", "http://user:pw@127.0.0.1:{port}/legacy/", False, "credentials"),
        ("localhost", "http://127.0.0.1:{port}/leg\x1b[2Jacy/", False, "control characters"),
        ("test.pypi.org", "https://t\u0435st.pypi.org/legacy/", False, "non-ASCII"),
        ("pypi.internal.example", "http://127.0.0.1:{port}/legacy/", True, SENT),
        ("localhost", "http://127.0.0.1:{port}/legacy/", False, SENT),
    ],
)
def test_the_decisions_themselves(issuer: str, url: str, allow: bool, words: str) -> None:
    """The table's answers are the ones meant, not merely consistent."""
    decision = _expected(issuer, url.format(port=9), allow)
    assert words in decision if words != SENT else decision == SENT


def test_the_url_checked_is_the_url_sent() -> None:
    """One parse (urllib3's, as requests sends): the host checked is the host connected to."""
    from urllib3.util import parse_url

    dest = sites.check_url("https://TEST.pypi.org./legacy")
    assert dest.url == "https://test.pypi.org./legacy/"
    assert parse_url(dest.url).host == "test.pypi.org."
    assert dest.host == "test.pypi.org"
    assert sites.json_api_url(dest, "a.b") == "https://test.pypi.org/pypi/a.b/json"
    assert sites.json_api_url("https://upload.pypi.org/legacy/", "x") == (
        "https://pypi.org/pypi/x/json"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("issuer", "url", "allow", "words"),
    [
        ("test.pypi.org", "http://127.0.0.1:{port}\\@test.pypi.org/legacy/", False, "backslash"),
        ("test.pypi.org", "http://test.pypi.org/legacy/", False, "clear text"),
        ("pypi.internal.example", "http://127.0.0.1:{port}/legacy/", False, "--allow-other-host"),
        ("pypi.internal.example", "http://127.0.0.1:{port}/legacy/", True, SENT),
    ],
)
@pytest.mark.parametrize("task", ["probe", "upload"])
def test_invoke_takes_the_same_decision(
    task: str, issuer: str, url: str, allow: bool, words: str, listener: Listener, tmp_path: Path
) -> None:
    """The real ``invoke`` program, one process per case: same sentence, nothing sent."""
    url = url.format(port=listener.port)
    raw = _raw(issuer)
    write_env(tmp_path, TOKEN=raw)
    listener.requests.clear()
    flag = ["--allow-other-host"] if allow else []
    ran = invoke(tmp_path, task, "-p", PROJECT, "--repository-url", url, *flag)
    expected = _expected(issuer, url, allow)
    assert words in expected if words != SENT else expected == SENT
    if expected == SENT:
        assert listener.requests, ran.output
        assert ran.returncode != 2, ran.output
    else:
        assert ran.returncode != 0
        assert f"error: {expected}" in ran.stderr, ran.output
        assert listener.requests == []
    assert raw not in ran.output
    assert clean_environ  # the child got no TOKEN from us: only the .env holds it


URL_PARTS = st.sampled_from(
    [
        "http://",
        "https://",
        "HTTPS://",
        "ftp://",
        "//",
        "",
        "a",
        "@",
        ":",
        "\\",
        "/",
        "?",
        "#",
        "%40",
        "%5C",
        "[",
        "]",
        "::1",
        "127.0.0.1",
        "test.pypi.org",
        "evil.example",
        ".",
        "80",
        "user:pw",
        "legacy/",
        "simple/",
        "\t",
        " ",
        "\u0435",
        "\u3002",
        "\x00",
    ]
)


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(URL_PARTS, max_size=10))
def test_an_accepted_url_means_one_host_to_every_parser(parts: list[str]) -> None:
    """Whatever ``check_url`` accepts, urllib3 (what is sent) and urlsplit see the same host."""
    from urllib.parse import urlsplit

    from urllib3.util import parse_url

    url = "".join(parts)
    try:
        dest = sites.check_url(url)
    except TokenError:
        return
    sent = parse_url(dest.url)
    assert (sent.host or "").lower().rstrip(".") == dest.host
    assert (urlsplit(dest.url).hostname or "").lower().rstrip(".") == dest.host.strip("[]")
    assert sent.auth is None and dest.url.isascii()
    assert sites.check_url(dest.url) == dest  # parsing what is sent changes nothing


def test_a_forklift_domain_routes_uploads_on_its_host_only(tmp_path: Path) -> None:
    from helpers import Harness

    with Harness(tmp_path, forklift_domain="testserver") as harness:
        assert harness.post({"protocol_version": "1"}, None, None).status == 405
        assert harness.post({":action": "file_upload"}, None, None).status == 403
    other = Harness(tmp_path / "other", forklift_domain="upload.example")
    try:  # warehouse's DomainPredicate: no upload route at all on another host
        answer = other.post({":action": "file_upload"}, None, None)
        assert (answer.status, answer.reason) == (404, "Not Found")
    finally:
        other.close()
