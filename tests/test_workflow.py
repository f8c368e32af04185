"""The workflow library: offline build, twine in-process, and the verdict rules."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _tasks_helpers import PypiServer, closed_port, mint_raw, simple_listing

from tokentool import workflow
from tokentool._build import SAMPLE_DIR, BuildError, build_sample, check_version, new_version
from tokentool._config import Config, load_config
from tokentool._upload import Answer, FileAnswer
from tokentool.exceptions import ConfigError
from tokentool.workflow import Outcome, _classify


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
    assert (
        workflow.view_url("https://test.pypi.org/legacy/", "My_P", "1.0")
        == "https://test.pypi.org/project/my-p/1.0/"
    )
    assert (
        workflow.view_url("http://127.0.0.1:5/legacy/", "My_P", "1.0")
        == "http://127.0.0.1:5/simple/my-p/"
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


@pytest.mark.slow
@pytest.mark.parametrize("case", ["project", "expired"])
def test_permissive_index_is_a_security_failure(permissive: PypiServer, case: str) -> None:
    report = workflow.verify_rejection(_config(permissive.url), "wf-permissive", case=case)
    assert report.outcome is Outcome.ACCEPTED
    assert not report.ok
    expected = {
        "project": "SECURITY: the index accepted a token restricted to wf-permissive-elsewhere",
        "expired": "SECURITY: the index accepted an expired token",
    }
    assert report.message == expected[case]
    assert not report.prediction.allowed


def test_closed_port_is_unreachable_not_a_pass() -> None:
    port = closed_port()
    report = workflow.verify_rejection(_config(f"http://127.0.0.1:{port}/legacy/"), "wf-closed")
    assert report.outcome is Outcome.UNREACHABLE
    assert report.message == (
        f"index unreachable: could not connect to http://127.0.0.1:{port}/legacy/ "
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
