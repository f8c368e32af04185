"""``upload --dist`` and ``verify-rejection --dist``: the user's own files, built by other backends.

The files are built for real by hatchling and setuptools (offline, the
backends installed in the venv), named as those backends name them while
their metadata keeps the name as written (``Own.Hatch`` ->
``own_hatch-1.0.tar.gz``), and sent to a real stand-in by the real
``tokentool`` and ``invoke`` programs.
"""

from __future__ import annotations

import datetime
import gzip
import io
import re
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import (
    Ran,
    assert_no_token,
    build_project,
    clean_environ,
    closed_port,
    invoke,
    mint_raw,
    run,
    simple_json,
    unique,
)

import tokentool
from tokentool.exceptions import ConfigError
from tokentool.index import RunningServer
from tokentool.workflow import _dists
from tokentool.workflow._dists import group_by_project, read_dist


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Projects by two backends, one per test that publishes; names as users write them."""
    where = tmp_path_factory.mktemp("own")
    return {
        "hatchling": build_project(where / "h", "hatchling", "Own.Hatch", "1.0"),
        "setuptools": build_project(where / "s", "setuptools", "Own_Setup.Tools", "2.0"),
        "solo": build_project(where / "solo", "hatchling", "Solo.Hatch", "1.0"),
        "verify": build_project(where / "v", "setuptools", "Verify_Setup.Tools", "3.0"),
    }


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _project(tmp_path: Path, *files: Path) -> Path:
    """A user's project folder with ``files`` in its dist/."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / "dist").mkdir()
    for file in files:
        shutil.copy(file, tmp_path / "dist" / file.name)
    return tmp_path


def _tokentool(cwd: Path, server: RunningServer, token: str, *args: str) -> Ran:
    env = clean_environ(HOME=str(cwd), TOKEN=token, REPOSITORY_URL=server.upload_url)
    return run([sys.executable, "-m", "tokentool", *args], cwd=cwd, env=env, timeout=180)


def test_metadata_names_the_project_not_the_file_name(built, tmp_path) -> None:
    wheel, sdist = (
        next(p for p in built["hatchling"] if p.name.endswith(s)) for s in (".whl", ".gz")
    )
    assert (wheel.name, sdist.name) == (
        "own_hatch-1.0-py2.py3-none-any.whl",
        "own_hatch-1.0.tar.gz",
    )
    for path in (wheel, sdist):
        renamed = tmp_path / path.name.replace("own_hatch", "something_else")
        shutil.copy(path, renamed)
        assert (read_dist(renamed).project, read_dist(renamed).version) == ("Own.Hatch", "1.0")
    setup = [read_dist(p) for p in built["setuptools"]]
    assert {(d.project, d.version) for d in setup} == {("Own_Setup.Tools", "2.0")}


def test_upload_dist_uses_a_token_for_the_metadata_project(
    built, tmp_path, index_server: RunningServer
) -> None:
    token = index_server.mint(unique("user"))
    folder = _project(tmp_path, *built["solo"])
    ran = _tokentool(folder, index_server, token, "upload", "--dist", "dist/*")
    assert ran.returncode == 0, ran.output
    lines = ran.stdout.splitlines()
    assert lines[0] == "token from: TOKEN in the environment"
    assert (
        "your files of Solo.Hatch 1.0: solo_hatch-1.0-py2.py3-none-any.whl, solo_hatch-1.0.tar.gz"
        in lines
    )
    restrictions = next(x for x in lines if x.startswith("derived token restrictions: "))
    assert restrictions.endswith("only for project(s) named solo-hatch")
    start, end = re.search(r"valid from (\S+) until (\S+) ", restrictions).groups()  # type: ignore[union-attr]
    assert _seconds(end) - _seconds(start) == 15 * 60  # --ttl's default
    assert lines[-3:-1] == ["accepted: 2 file(s) of Solo.Hatch uploaded", "View at:"]
    assert lines[-1] == f"{index_server.url}project/Solo.Hatch/1.0/"
    files = {f["filename"] for f in simple_json(index_server, "solo-hatch")["files"]}
    assert files == {p.name for p in built["solo"]}
    # Nothing built: the folder holds what it held.
    assert sorted(p.name for p in (folder / "dist").iterdir()) == sorted(
        p.name for p in built["solo"]
    )
    assert_no_token(ran.output, token)


def test_files_of_several_projects_need_each_named(
    built, tmp_path, index_server: RunningServer
) -> None:
    token = index_server.mint(unique("user"))
    both = [*built["hatchling"], *built["setuptools"]]
    folder = _project(tmp_path, *both)
    refused = _tokentool(folder, index_server, token, "upload", "--dist", "dist/*")
    assert (refused.returncode, refused.stderr.splitlines()[-1]) == (
        2,
        "tokentool: error: --dist holds files of several projects (own-hatch, own-setup-tools): "
        "pass --project for each one to upload them all, or narrow the glob",
    )
    one = _tokentool(folder, index_server, token, "upload", "--dist", "dist/*", "-p", "own.hatch")
    assert one.returncode == 2
    assert "--dist holds files of own-setup-tools too, which no --project names" in one.stderr
    assert "uploading" not in one.stdout
    # Invoke's face, each project named: two tokens, one per project.
    (folder / "tasks.py").write_text("from tokentool.tasks import *  # noqa: F403\n")
    env = clean_environ(HOME=str(folder), TOKEN=token, REPOSITORY_URL=index_server.upload_url)
    env_file = folder / ".env"
    env_file.write_text("")
    ran = invoke(
        folder,
        "upload",
        "--dist",
        "dist/*",
        "--project",
        "Own_Setup.Tools",
        "--project",
        "own-hatch",
        "--ttl",
        "5m",
        env=env,
    )
    assert ran.returncode == 0, ran.output
    restrictions = [x for x in ran.stdout.splitlines() if x.startswith("derived token restr")]
    assert len(restrictions) == 2
    assert restrictions[0].endswith("named own-hatch")
    assert restrictions[1].endswith("named own-setup-tools")
    assert all("valid from" in line for line in restrictions)
    assert "accepted: 2 file(s) of Own.Hatch uploaded" in ran.stdout
    assert "accepted: 2 file(s) of Own_Setup.Tools uploaded" in ran.stdout
    assert_no_token(ran.output, token)


def test_verify_rejection_dist_sends_your_file_and_publishes_nothing(
    built, tmp_path, index_server: RunningServer
) -> None:
    user = unique("user")
    token = index_server.mint(user)
    folder = _project(tmp_path, *built["verify"])
    up = _tokentool(folder, index_server, token, "upload", "--dist", "dist/*")
    assert up.returncode == 0, up.output
    before = simple_json(index_server, "verify-setup-tools")["files"]
    ran = _tokentool(folder, index_server, token, "verify-rejection", "--dist", "dist/*.whl")
    assert ran.returncode == 0, ran.output
    assert "your file of Verify_Setup.Tools: verify_setup_tools-3.0-py3-none-any.whl" in ran.stdout
    # The stored name is what twine sent: its safe_name of the metadata's (_ -> -).
    assert ran.stdout.splitlines()[-1] == (
        "refused as expected: 403 Invalid API Token: project-scoped token is not valid for "
        "project: 'Verify-Setup.Tools'"
    )
    assert simple_json(index_server, "verify-setup-tools")["files"] == before
    # The same through probe: the user's file, their token, nothing published.
    probe = _tokentool(folder, index_server, token, "probe", "--dist", "dist/*")
    assert probe.returncode == 0, probe.output
    assert probe.stdout.splitlines()[-1] == (
        "accepted: the index would take this token for 'Verify_Setup.Tools' (nothing was published)"
    )
    assert_no_token(ran.output + probe.output, token)


def test_a_glob_that_matches_nothing_or_a_stranger(tmp_path, index_server) -> None:
    token = index_server.mint(unique("user"))
    folder = _project(tmp_path)
    ran = _tokentool(folder, index_server, token, "upload", "--dist", "dist/*")
    assert ran.stderr.splitlines()[-1] == (
        "tokentool: error: --dist 'dist/*' matches no file: build first"
    )
    (folder / "dist" / "notes.txt").write_text("hi")
    ran = _tokentool(folder, index_server, token, "upload", "--dist", "dist/*")
    assert ran.stderr.splitlines()[-1] == (
        "tokentool: error: dist/notes.txt: not a wheel (.whl) or an sdist (.tar.gz)"
    )


def test_an_unreachable_index_is_one_sentence_as_elsewhere(built, tmp_path) -> None:
    """Progress and timeouts as the other commands: the same client, the same words."""
    url = f"http://127.0.0.1:{closed_port()}/legacy/"
    folder = _project(tmp_path, *built["solo"])
    env = clean_environ(HOME=str(folder), TOKEN=mint_raw(), REPOSITORY_URL=url)
    ran = run(
        [sys.executable, "-m", "tokentool", "upload", "--dist", "dist/*", "--connect-timeout", "2"],
        cwd=folder,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 1
    assert ran.stderr.splitlines()[-1] == (
        "tokentool: error: upload of Solo.Hatch 1.0 failed: index unreachable: could not "
        f"connect to {url} (connection refused)"
    )
    assert f"uploading solo_hatch-1.0-py2.py3-none-any.whl to {url}" in ran.stdout


# --- bounded reads ------------------------------------------------------------------


def _sdist(path: Path, members: list[tuple[str, bytes]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def test_reads_are_bounded(tmp_path, monkeypatch) -> None:
    metadata = b"Metadata-Version: 2.1\nName: Bounded\nVersion: 1\n"
    ok = _sdist(tmp_path / "bounded-1.tar.gz", [("bounded-1/PKG-INFO", metadata)])
    assert read_dist(ok).project == "Bounded"
    monkeypatch.setattr(_dists, "MAX_MEMBERS", 5)
    late = [(f"bounded-1/f{i}", b"") for i in range(6)] + [("bounded-1/PKG-INFO", metadata)]
    with pytest.raises(ConfigError, match=r"not an sdist \(no NAME-VERSION/PKG-INFO"):
        read_dist(_sdist(tmp_path / "late-1.tar.gz", late))
    monkeypatch.setattr(_dists, "MAX_SCANNED", 64 * 1024)
    bomb = [("bounded-1/zeros", b"\0" * (1024 * 1024)), ("bounded-1/PKG-INFO", metadata)]
    with pytest.raises(
        ConfigError, match="decompresses to more than 65536 bytes before its PKG-INFO"
    ):
        read_dist(_sdist(tmp_path / "bomb-1.tar.gz", bomb))
    monkeypatch.setattr(_dists, "MAX_METADATA", 16)
    with pytest.raises(ConfigError, match="its metadata is larger than 16 bytes"):
        read_dist(ok)
    wheel = tmp_path / "bounded-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("bounded-1.dist-info/METADATA", metadata)
    with pytest.raises(ConfigError, match="its metadata is larger than 16 bytes"):
        read_dist(wheel)


def test_grouping_refuses_a_named_project_without_files(built) -> None:
    dists = [read_dist(p) for p in built["hatchling"]]
    with pytest.raises(ConfigError, match="--project other: no file given with --dist"):
        group_by_project(dists, ["own-hatch", "other"])
    (group,) = group_by_project(dists, [])
    assert (group.project, tokentool.normalize_project(group.project)) == ("Own.Hatch", "own-hatch")
    assert group.wheel.name.endswith(".whl")
