"""The workflow library: offline build, twine in-process, and the verdict rules."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    Closing,
    LenientIndex,
    PypiServer,
    closed_port,
    mint_raw,
    simple_listing,
    stored_names,
)

from tokentool import workflow
from tokentool.exceptions import ConfigError
from tokentool.workflow import (
    Answer,
    BuildError,
    Config,
    FileAnswer,
    Outcome,
    build_sample,
    check_version,
    load_config,
    new_version,
    sample_files,
)
from tokentool.workflow._flow import _classify

SAMPLE_DIR = Path(str(sample_files()))


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_build_names_the_copy_and_leaves_sources_alone(tmp_path: Path) -> None:
    before = _tree_digest(SAMPLE_DIR)
    built = build_sample("My_Sample.Proj", tmp_path / "out", "1.2.3")
    assert _tree_digest(SAMPLE_DIR) == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "my_sample_proj-1.2.3-py3-none-any.whl",
        "my_sample_proj-1.2.3.tar.gz",
    ]
    assert built.files == (
        tmp_path / "out" / "my_sample_proj-1.2.3.tar.gz",
        tmp_path / "out" / "my_sample_proj-1.2.3-py3-none-any.whl",
    )
    with zipfile.ZipFile(built.wheel) as wheel:
        metadata = wheel.read("my_sample_proj-1.2.3.dist-info/METADATA").decode()
        assert "tokentool_sample/__init__.py" in wheel.namelist()
    assert "\nName: My_Sample.Proj\n" in metadata
    assert "\nVersion: 1.2.3\n" in metadata


def test_build_refuses_a_used_output_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.whl").write_text("x")
    with pytest.raises(BuildError, match=r"^output folder .*out is not empty: give a fresh one$"):
        build_sample("proj", tmp_path / "out")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("banana", "invalid version 'banana': it is not a PEP 440 version"),
        ("1.0+local", "invalid version '1.0+local': indexes refuse local versions (+...)"),
    ],
)
def test_bad_versions(version: str, message: str) -> None:
    with pytest.raises(BuildError) as info:
        check_version(version)
    assert str(info.value) == message


def test_new_versions_are_final_and_never_repeat() -> None:
    from packaging.version import Version

    versions = [new_version() for _ in range(200)]
    parsed = [Version(v) for v in versions]
    assert all(not v.is_prerelease and not v.is_devrelease and v.local is None for v in parsed)
    assert parsed == sorted(parsed)
    # Same second, different microseconds: different versions.
    assert new_version(1_700_000_000_000_001_000) != new_version(1_700_000_000_000_002_000)


def _answer(status: int | None, reason: str = "", files: tuple[int, ...] = ()) -> Answer:
    answers = tuple(FileAnswer(f"f{i}", s, "") for i, s in enumerate(files))
    accepted = status == 200 and len(files) == 2
    return Answer(accepted, status, reason, answers, None if status else "index unreachable: x")


PROJECT_REASON = "project-scoped token is not valid for project: 'p'"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (_answer(200, "OK", (200, 200)), Outcome.ACCEPTED),
        (_answer(403, "Forbidden", (200, 403)), Outcome.ACCEPTED),  # one file let through
        (_answer(403, f"Invalid API Token: {PROJECT_REASON}", (403,)), Outcome.REFUSED_AS_EXPECTED),
        (
            _answer(403, f"Invalid API Token: token is expired, {PROJECT_REASON}", (403,)),
            Outcome.REFUSED_AS_EXPECTED,
        ),
        (_answer(403, "Invalid API Token: token is expired", (403,)), Outcome.REFUSED_OTHERWISE),
        (_answer(403, "Invalid or non-existent authentication information.", (403,)), None),
        (_answer(403, f"Forbidden {PROJECT_REASON}", (403,)), Outcome.REFUSED_OTHERWISE),
        (_answer(400, f"Invalid API Token: {PROJECT_REASON}", (400,)), Outcome.REFUSED_OTHERWISE),
        (_answer(500, "Internal Server Error", (500,)), Outcome.REFUSED_OTHERWISE),
        (_answer(None), Outcome.UNREACHABLE),
    ],
)
def test_only_the_restriction_counts_as_a_pass(answer: Answer, outcome: Outcome | None) -> None:
    assert _classify(answer, PROJECT_REASON) is (outcome or Outcome.REFUSED_OTHERWISE)


def test_view_urls() -> None:
    # twine's release_urls: its safe_name, not the normalized name
    assert (
        workflow.view_url("https://test.pypi.org/legacy/", "My_P..x", "1.0")
        == "https://test.pypi.org/project/My-P..x/1.0/"
    )
    assert (
        workflow.view_url("https://upload.pypi.org/legacy/", "p", "2")
        == "https://pypi.org/project/p/2/"
    )
    # warehouse's routes at .../legacy/: the stand-in's release page
    assert (
        workflow.view_url("http://127.0.0.1:5/legacy/", "My_P", "1.0")
        == "http://127.0.0.1:5/project/My-P/1.0/"
    )
    assert workflow.view_url("http://127.0.0.1:5/", "p", "1") == "http://127.0.0.1:5/simple/p/"


@pytest.fixture(scope="module")
def permissive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    server = PypiServer(tmp_path_factory.mktemp("pypiserver"))
    yield server
    server.stop()


def _config(url: str) -> Config:
    return load_config(None, {"TOKEN": mint_raw(), "INDEX_URL": url})


@pytest.mark.slow
def test_upload_then_listing(permissive: PypiServer) -> None:
    report = workflow.upload(_config(permissive.url), "wf-upload")
    assert report.ok
    assert [(f.status, f.reason) for f in report.answer.files] == [(200, "OK"), (200, "OK")]
    assert report.view == f"{permissive.url}simple/wf-upload/"
    listing = simple_listing(report.view)
    assert report.built.sdist.name in listing
    assert report.built.wheel.name in listing
    assert any("only for project(s) named wf-upload" in r for r in report.restrictions)
    assert any(r.startswith("valid from ") for r in report.restrictions)


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("case", ["project", "expired"])
def test_permissive_index_cannot_be_probed_and_nothing_is_published(
    permissive: PypiServer, case: str
) -> None:
    """Bare pypiserver answers the unknown-token control with 400, not 403: not calibrated."""
    before = _listing(permissive.packages)
    lines: list[str] = []
    report = workflow.verify_rejection(
        _config(permissive.url),
        "wf-permissive",
        case=case,
        allow_new_project=True,  # pypiserver has no JSON API: every name is "missing"
        progress=lines.append,
    )
    assert report.outcome is Outcome.UNPROBEABLE and not report.ok
    assert report.kind == "calibration"
    assert report.message.startswith(
        f"the index at {permissive.url} can't be probed, so nothing was sent with the real "
        "file's digest and nothing was published: the index answered an unknown token with "
        '"400 '
    )
    assert report.message.endswith(
        "verify-rejection cannot tell whether it refuses this token (--real-upload uploads "
        "the real files instead, which publishes them if it accepts the token)"
    )
    assert not any(line.startswith("probe with the token:") for line in lines)
    assert _listing(permissive.packages) == before
    assert not report.prediction.allowed


@pytest.mark.slow
@pytest.mark.parametrize("case", ["project", "expired"])
def test_real_upload_keeps_the_old_check_on_an_index_that_cannot_be_probed(
    permissive: PypiServer, case: str
) -> None:
    project = f"wf-real-{case}"
    report = workflow.verify_rejection(
        _config(permissive.url), project, case=case, allow_new_project=True, real_upload=True
    )
    assert report.outcome is Outcome.ACCEPTED
    expected = {
        "project": f"SECURITY: the index accepted a token restricted to {project}-elsewhere",
        "expired": "SECURITY: the index accepted an expired token",
    }
    assert report.message == expected[case]
    assert report.built.wheel.name in _listing(permissive.packages)  # published, as warned


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[LenientIndex]:
    folder = tmp_path / "lenient"
    folder.mkdir()
    index = LenientIndex(folder, {"wf-lenient"})
    yield index
    index.close()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["project", "expired"])
def test_a_wrongly_accepted_token_is_a_security_failure_that_publishes_nothing(
    lenient: LenientIndex, case: str
) -> None:
    """An index that judges in warehouse's order but forgets caveats: calibrated, then 400."""
    config = load_config(None, {"TOKEN": lenient.token, "INDEX_URL": lenient.url})
    lines: list[str] = []
    report = workflow.verify_rejection(config, "wf-lenient", case=case, progress=lines.append)
    assert report.outcome is Outcome.ACCEPTED and not report.ok
    expected = {
        "project": "SECURITY: the index accepted a token restricted to wf-lenient-elsewhere",
        "expired": "SECURITY: the index accepted an expired token",
    }
    assert report.message == expected[case]
    assert report.answer.summary == (
        "400 The digest supplied does not match a digest calculated from the uploaded file."
    )
    assert "index answer to an unknown token: 403 Invalid or non-existent" in "\n".join(lines)
    assert (
        "index answer to the token with a broken signature: 403 Invalid API Token: "
        "signatures do not match"
    ) in lines
    assert lines[-1] == (
        "the index accepted the token; nothing was published (the wrong digest stopped it)"
    )
    assert _listing(lenient.packages) == []


def test_the_lenient_index_does_store_a_right_digest(lenient: LenientIndex, tmp_path: Path):
    """The SECURITY test above proves something: with the right digest the file is stored."""
    config = load_config(None, {"TOKEN": lenient.token, "INDEX_URL": lenient.url})
    report = workflow.upload(config, "wf-lenient")
    assert report.ok, report.message
    assert report.built.wheel.name in _listing(lenient.packages)


def test_quota_guard_on_a_standin_without_the_project(index_server, tmp_path: Path) -> None:
    config = load_config(
        None, {"TOKEN": index_server.mint("guard"), "INDEX_URL": index_server.upload_url}
    )
    before = stored_names(index_server)
    with pytest.raises(ConfigError) as refused:
        workflow.verify_rejection(config, "wf-never-uploaded")
    assert str(refused.value) == (
        "project 'wf-never-uploaded' does not exist on the index, and a first upload of a new "
        "name creates the project before the token is judged and counts against the "
        "new-project quota even when it is refused: upload it once first "
        "(invoke upload --project=wf-never-uploaded), or pass --allow-new-project to spend "
        "the quota"
    )
    # --allow-new-project goes on: the stand-in creates, refuses and rolls back; nothing stored.
    report = workflow.verify_rejection(config, "wf-never-uploaded", allow_new_project=True)
    assert report.ok, report.message
    assert stored_names(index_server) == before
    assert (
        workflow.quota_guard(config, "wf-never-uploaded", allow_new_project=True, timeouts=None)
        == "wf-never-uploaded"
    )


def test_closed_port_is_unreachable_not_a_pass() -> None:
    port = closed_port()
    report = workflow.verify_rejection(_config(f"http://127.0.0.1:{port}/legacy/"), "wf-closed")
    assert report.outcome is Outcome.UNREACHABLE
    assert report.message == (
        f"index unreachable: could not connect to http://127.0.0.1:{port}/pypi/wf-closed/json "
        "(connection refused)"
    )


def test_verify_rejection_argument_errors() -> None:
    config = _config("http://127.0.0.1:9/legacy/")
    with pytest.raises(ConfigError, match=r"^unknown case 'nope': use one of project, expired$"):
        workflow.verify_rejection(config, "p", case="nope")
    with pytest.raises(ConfigError, match=r"^--other='P' is the same project as 'p'"):
        workflow.verify_rejection(config, "p", other="P")
    with pytest.raises(ConfigError, match=r"^--other only applies to --case=project$"):
        workflow.verify_rejection(config, "p", other="q", case="expired")


def test_per_file_answers_name_their_file_wheel_first(permissive: PypiServer) -> None:
    lines: list[str] = []
    report = workflow.upload(_config(permissive.url), "wf-order", progress=lines.append)
    wheel, sdist = report.built.wheel.name, report.built.sdist.name
    assert [f.filename for f in report.answer.files] == [wheel, sdist]
    url = f"{permissive.url}"
    assert lines[-4:] == [
        f"uploading {wheel} to {url}",
        f"index answer for {wheel}: 200 OK",
        f"uploading {sdist} to {url}",
        f"index answer for {sdist}: 200 OK",
    ]
    assert lines[0] == "token from: TOKEN in the environment"


class _Mute(Closing):
    """An index that accepts connections, reads, and never answers."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/legacy/"
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_a_mute_index_times_out_with_one_sentence() -> None:
    with _Mute() as mute:
        lines: list[str] = []
        report = workflow.upload(
            _config(mute.url),
            "wf-mute",
            timeouts=workflow.Timeouts(connect=5, read=0.5),
            progress=lines.append,
        )
    sentence = (
        f"index did not answer: {mute.url} accepted the connection but sent no answer "
        "within 0.5 s (raise it with --read-timeout=SECONDS)"
    )
    assert not report.ok
    assert report.answer.error == sentence
    assert report.message.endswith(f"failed: {sentence}")
    assert lines[-1].endswith(sentence)


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"^--read-timeout must be a positive number"):
        workflow.Timeouts(read=0)


class _Echo:
    """An index whose reason phrase repeats the Authorization header, with a control character."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the project exists: the probe goes on to echo
                body = b'{"info": {"name": "wf-echo"}}'
                self.send_response(200, "OK")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                auth = self.headers.get("Authorization", "")
                raw = ""
                if auth.startswith("Basic "):
                    import base64

                    raw = base64.b64decode(auth[6:]).decode().partition(":")[2]
                self.send_response(403, f"Echo {auth} raw {raw} \x1b[2J")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/legacy/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_echoing_index_gets_no_token_printed() -> None:
    from helpers import assert_no_token

    echo = _Echo()
    raw = mint_raw()
    try:
        lines: list[str] = []
        config = load_config(None, {"TOKEN": raw, "INDEX_URL": echo.url})
        report = workflow.verify_rejection(config, "wf-echo", progress=lines.append)
    finally:
        echo.close()
    text = "\n".join([*lines, report.message, repr(report)])
    assert "Echo Basic …(redacted) raw …(redacted) \\x1b[2J" in text
    assert "\x1b" not in text
    assert_no_token(text, raw)


def test_a_missing_extra_is_named() -> None:
    from tokentool.workflow import describe_failure

    for module, extra in (("twine", "upload"), ("waitress", "index"), ("dotenv", "upload")):
        exc = ModuleNotFoundError(f"No module named '{module}'", name=module)
        assert describe_failure(exc) == (
            f"{module} is not installed: this needs pip install 'tokentool[{extra}]'",
            2,
        )
    assert describe_failure(ValueError("pypi-AgEIsecret")) == (
        "internal error (ValueError); rerun with TOKENTOOL_DEBUG=1",
        70,
    )
