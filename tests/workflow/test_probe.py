"""``tokentool probe``: real requests to a real stand-in, bare pypiserver and a closed port.

Every probe sends a wrong digest, so each test also checks that nothing was
published (the index's file list is unchanged).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import wsgiref.simple_server
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import PypiServer, clean_environ, closed_port, stored_names, twine_upload, unique

import tokentool
from tokentool import probe as _probe
from tokentool.exceptions import ConfigError
from tokentool.index import RunningServer


def files(server: RunningServer) -> list[str]:
    return stored_names(server)


def owned(server: RunningServer, dists: object, **standing: bool) -> tuple[str, str, str, object]:
    """(user, project, user-wide token, Dists) with the project created by a real upload."""
    user, name = unique("user"), unique()
    token = server.mint(user)
    made = dists(name)  # type: ignore[operator]
    ran = twine_upload(server.upload_url, token, made.wheel)
    assert ran.returncode == 0, ran.output
    if standing:
        token = server.mint(user, **standing)
    return user, name, token, dists(name, "9.0")  # type: ignore[operator]


def run_probe(
    server_url: str, token: str, project: str, dist: Path, **kw: bool
) -> _probe.ProbeResult:
    """The stand-in serves ``/pypi/NAME/json``: the probe asks it whether NAME exists first."""
    return _probe.probe(server_url, token, project, dist, **kw)


def test_accepted_publishes_nothing(index_server, dists):
    _user, name, token, made = owned(index_server, dists)
    before = files(index_server)
    result = run_probe(index_server.upload_url, token, name, made.wheel)
    assert (result.outcome, result.kind, result.status) == ("accepted", "digest", 400)
    assert not result.security and result.exit_code == 0
    assert files(index_server) == before


def test_refused_with_the_index_reason(index_server, dists):
    user, first, _token, _made = owned(index_server, dists)
    other = unique()
    ran = twine_upload(index_server.upload_url, index_server.mint(user), dists(other).wheel)
    assert ran.returncode == 0
    scoped = index_server.mint(user, project=first)
    before = files(index_server)
    result = run_probe(index_server.upload_url, scoped, other, dists(other, "2.0").wheel)
    reason = f"project-scoped token is not valid for project: {other!r}"
    assert (result.outcome, result.kind, result.status) == ("refused", "token", 403)
    assert result.detail == "Invalid API Token: " + ", ".join([reason] * 4)
    assert result.exit_code == 1
    assert files(index_server) == before


def test_expired(index_server, dists):
    _user, name, token, made = owned(index_server, dists)
    expired = tokentool.derive(
        tokentool.load(token), not_before=1000, not_after=2000, allow_unusable=True
    ).dump()
    result = run_probe(index_server.upload_url, expired, name, made.wheel)
    assert (result.outcome, result.detail) == ("refused", "Invalid API Token: token is expired")


@pytest.mark.parametrize(
    ("standing", "kind", "words"),
    [
        ({"no_2fa": True}, "no-2fa", "does not have two-factor authentication enabled"),
        ({"unverified_email": True}, "unverified-email", "does not have a verified primary"),
    ],
)
def test_account_refusals_are_named(index_server, dists, standing, kind, words):
    user, name, _token, made = owned(index_server, dists)
    token = index_server.mint(user, **standing)
    before = files(index_server)
    result = run_probe(index_server.upload_url, token, name, made.wheel)
    assert (result.outcome, result.kind, result.status) == ("refused", kind, 403)
    assert result.detail.startswith(f"User {user!r}, associated with the API token used, ")
    assert words in result.detail
    assert files(index_server) == before


def test_security_flag_when_a_refusal_was_expected(index_server, dists):
    _user, name, token, made = owned(index_server, dists)
    before = files(index_server)
    result = run_probe(index_server.upload_url, token, name, made.wheel, expect_refusal=True)
    assert (result.outcome, result.security, result.exit_code) == ("accepted", True, 4)
    assert "nothing was published" in result.detail
    assert files(index_server) == before


def test_bare_pypiserver_is_inconclusive(tmp_path, dists):
    packages = tmp_path / "packages"
    packages.mkdir()
    server = PypiServer(packages)
    token = _user_token()
    try:
        name = unique()
        # Bare pypiserver has no JSON API: nothing to ask whether the project exists.
        made = dists(name).wheel
        result = _probe.probe(server.url, token, name, made, check_exists=False)
    finally:
        server.stop()
    assert (result.outcome, result.kind) == ("inconclusive", "calibration")
    assert "an unknown token" in result.detail and "as warehouse does" in result.detail
    assert token[5:] not in result.detail
    assert os.listdir(packages) == []  # the control carried no file: nothing stored


def _user_token() -> str:
    import uuid

    return tokentool.mint(
        domain="localhost",
        identifier=str(uuid.uuid4()),
        key=os.urandom(32),
        user_id=str(uuid.uuid4()),
    )


def test_closed_port_is_inconclusive(dists):
    made = dists(unique())
    url = f"http://127.0.0.1:{closed_port()}/legacy/"
    result = run_probe(url, _user_token(), "anything", made.wheel)
    assert (result.outcome, result.kind, result.exit_code) == ("inconclusive", "unreachable", 3)
    assert "could not connect" in result.detail


# --- the quota guard ---------------------------------------------------------------


@pytest.fixture
def json_api() -> Iterator[str]:
    """A tiny real WSGI server answering warehouse's ``/pypi/NAME/json`` for one project."""

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/pypi/known/json":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"info": {"name": "known"}}']
        if path == "/pypi/broken/json":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down"]
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"message": "Not Found"}']

    class Quiet(wsgiref.simple_server.WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/legacy/"
    finally:
        server.shutdown()
        server.server_close()


def test_project_exists(json_api):
    assert _probe.project_exists(json_api, "known") is True
    assert _probe.project_exists(json_api, "missing") is False
    with pytest.raises(_probe.ProbeError, match="answered 503"):
        _probe.project_exists(json_api, "broken")
    with pytest.raises(_probe.ProbeError, match="could not connect"):
        _probe.project_exists(f"http://127.0.0.1:{closed_port()}/legacy/", "known")


def test_json_api_url():
    assert (
        _probe.json_api_url("https://test.pypi.org/legacy/", "a.b")
        == "https://test.pypi.org/pypi/a.b/json"
    )
    assert _probe.json_api_url("http://h:1/", "x") == "http://h:1/pypi/x/json"
    with pytest.raises(_probe.ProbeError):
        _probe.json_api_url("ftp://x/legacy/", "x")


def test_json_api_of_pypi_org_is_beside_its_upload_host():
    assert (
        _probe.json_api_url("https://upload.pypi.org/legacy/", "x")
        == "https://pypi.org/pypi/x/json"
    )


def test_a_public_sites_token_goes_to_that_site_only(dists):
    import uuid

    made = dists(unique())
    for site, url in (
        ("pypi.org", "https://test.pypi.org/legacy/"),
        ("test.pypi.org", "http://127.0.0.1:9/legacy/"),
    ):
        token = tokentool.mint(
            domain=site, identifier=str(uuid.uuid4()), key=os.urandom(32), user_id=str(uuid.uuid4())
        )
        with pytest.raises(ConfigError, match=f"issued by {site} but the repository URL"):
            _probe.probe(url, token, "x", made.wheel)


def test_a_missing_project_is_not_probed(json_api, dists):
    made = dists("missing")
    result = _probe.probe(json_api, _user_token(), "missing", made.wheel)
    assert (result.outcome, result.kind) == ("inconclusive", "new-project")
    assert result.detail == (
        "project 'missing' does not exist on the index, and a first upload of a new name "
        "creates the project before the token is judged and counts against the new-project "
        "quota even when it is refused: upload it once first (invoke upload --project=missing), "
        "or pass --allow-new-project to spend the quota"
    )


# --- the command -----------------------------------------------------------------


def probe_cli(*args: str, token: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``tokentool probe``, its token from the environment as every workflow command reads it."""
    return subprocess.run(
        [sys.executable, "-m", "tokentool", "probe", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=clean_environ(HOME=str(cwd), TOKEN=token),
    )


def test_cli_accepted_and_refused(index_server, dists, tmp_path):
    _user, name, token, made = owned(index_server, dists)
    common = ["--repository-url", index_server.upload_url, "--dist", str(made.wheel)]
    ok = probe_cli(*common, "--allow-new-project", token=token, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == (
        f"accepted: the index would take this token for {name!r} (nothing was published)"
    )
    assert f"your file of {name}: {made.wheel.name} (sent with a wrong digest)" in ok.stdout
    stranger = index_server.mint(unique("user"))
    other = probe_cli(*common, "-p", name, "--json", token=stranger, cwd=tmp_path)
    assert other.returncode == 1, other.stderr
    data = json.loads(other.stdout)
    assert (data["project"], data["outcome"], data["kind"], data["status"]) == (
        name,
        "refused",
        "no-role",
        403,
    )
    for ran in (ok, other):
        assert token[5:] not in ran.stdout + ran.stderr


def test_cli_help_documents_exit_codes():
    ran = subprocess.run(
        [sys.executable, "-m", "tokentool", "probe", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0
    for line in ("0  accepted", "1  refused", "3  inconclusive", "4  SECURITY"):
        assert line in ran.stdout


# --- calibration answers that are refusals, names, the stored display name -------


def test_an_unknown_token_is_refused_not_uncalibrated(index_server, dists):
    """The broken-signature control shares the token's identifier: an index that does not
    know it answers both alike, and that is the token's answer too."""
    name = owned(index_server, dists)[1]
    result = run_probe(index_server.upload_url, _user_token(), name, dists(name, "3.0").wheel)
    assert (result.outcome, result.kind, result.status) == ("refused", "unknown-token", 403)
    assert result.detail.startswith("Invalid or non-existent authentication information.")
    assert _probe.describe_kind(result.kind) == "the index does not know this token"


def test_the_stored_display_name(index_server, dists):
    user, name = unique("user"), unique("Disp.Lay")
    ran = twine_upload(index_server.upload_url, index_server.mint(user), dists(name).wheel)
    assert ran.returncode == 0, ran.output
    typed = name.lower().replace(".", "-")
    assert _probe.project_name(index_server.upload_url, typed) == name
    assert _probe.project_name(index_server.upload_url, unique("missing")) is None
    scoped = index_server.mint(user, project=name)
    other = owned(index_server, dists)[1]
    # The refusal quotes the other project's stored name, whatever was typed.
    result = run_probe(index_server.upload_url, scoped, other.upper(), dists(other, "4.0").wheel)
    assert result.detail.startswith(
        f"Invalid API Token: project-scoped token is not valid for project: {other!r}"
    )


def test_the_new_project_rate_limit_is_named(tmp_path, dists):
    """--allow-new-project on a user over the new-project limit: warehouse's 429, named."""
    from tokentool.index import start_server

    with start_server(tmp_path / "limited", new_project_limit=1) as server:
        user = unique("user")
        token = server.mint(user)
        first = unique()
        assert twine_upload(server.upload_url, token, dists(first).wheel).returncode == 0
        before = files(server)
        new = unique()
        result = _probe.probe(server.upload_url, token, new, dists(new).wheel, check_exists=False)
        assert (result.outcome, result.kind, result.status) == ("refused", "rate-limit", 429)
        assert result.detail == "Too many new projects created"
        assert files(server) == before
        assert _probe.project_exists(server.upload_url, new) is False


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (403, "Read-only mode: Uploads are temporarily disabled.", "uploads-disabled"),
        (
            403,
            "New uploads are temporarily disabled. See x for more information.",
            "uploads-disabled",
        ),
        (400, "The name 'requests2' is too similar to an existing project. See x", "project-name"),
        (400, "The name 'os' isn't allowed (conflict with Python Standard Library", "project-name"),
        (409, "The name 'x' conflicts with an existing project. See y", "project-name"),
        (429, "Too many new projects created", "rate-limit"),
        (403, "The user 'a' isn't allowed to upload to project 'B'. See x", "no-role"),
        (400, "Organization account owning this project is inactive. ...", "org-inactive"),
        (403, "Username/Password authentication is no longer supported. ...", "password"),
    ],
)
def test_refusals_are_named_in_warehouse_words(status, reason, kind):
    result = _probe.classify(status, reason)
    assert (result.outcome, result.kind) == ("refused", kind)
    assert _probe.describe_kind(kind) != kind


def test_a_hostile_json_api_costs_bounded_work():
    assert _probe._info_name(b"[" * 100_000) is None
    assert _probe._info_name(b'{"info": {"name": "A\\u001b[2J"}}') == "A\\x1b[2J"
    assert _probe._info_name(b"x" * (_probe.MAX_JSON + 1)) is None
    assert _probe._info_name(b'{"info": {"name": 3}}') is None
