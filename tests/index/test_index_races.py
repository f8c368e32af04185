"""Races against the recording transaction (issue 16.1): a duplicate answers 200 at
once and records nothing, and everything the first look decided is asked again
under the write lock, so a lost race is refused, never recorded.

The stand-in runs in this process; the other party's step is done at the exact
moment it matters (just before the recording transaction), and once more as a
free-running race of many re-uploads against ``index delete``.
"""

from __future__ import annotations

import threading

import pytest
from helpers import listing, post_file, write_wheel

from tokentool.index import Index


def _projects(data_dir) -> dict[str, list[str]]:
    return {p["normalized_name"]: p["files"] for p in listing(data_dir)["projects"]}


def _delete(data_dir, *args: str) -> None:
    with Index(data_dir) as index:
        index.delete(*args)


def _dir(path):
    path.mkdir(exist_ok=True)
    return path


def _before_record(monkeypatch, action) -> None:
    """Run ``action`` once, after every check passed and before the transaction."""
    from tokentool.index._upload import Uploads

    original = Uploads.record
    fired = threading.Event()

    def hooked(self, up):
        if not fired.is_set():
            fired.set()
            action()
        return original(self, up)

    monkeypatch.setattr(Uploads, "record", hooked)


def test_a_duplicate_answers_200_at_once_under_any_project(inprocess, tmp_path):
    """Bob sends the bytes of Alice's wheel under his own project: warehouse's
    ``_is_duplicate_file`` answers 200 before any name check, and nothing changes."""
    alice, bob = inprocess.mint("alice"), inprocess.mint("bob")
    wheel = write_wheel(tmp_path, "alicepkg", "1.0")
    assert post_file(inprocess, alice, wheel, "alicepkg", "1.0", "bdist_wheel").status_code == 200
    answer = post_file(inprocess, bob, wheel, "bobproj", "1.0", "bdist_wheel")
    assert answer.status_code == 200
    assert _projects(inprocess.data_dir) == {"alicepkg": [wheel.name]}  # no bobproj


def test_a_file_deleted_during_the_upload_is_refused_not_recorded(inprocess, tmp_path, monkeypatch):
    """The same name recorded and deleted by ``index delete`` between the checks and
    the transaction: the name is taken for good, so the upload loses (warehouse:
    ``file_registry``'s unique name, a 500) and nothing is recorded."""
    bob = inprocess.mint("bob")
    seed = write_wheel(_dir(tmp_path / "seed"), "bobproj", "0.1")
    assert post_file(inprocess, bob, seed, "bobproj", "0.1", "bdist_wheel").status_code == 200
    first = write_wheel(_dir(tmp_path / "a"), "bobproj", "1.0", marker="a")
    rival = write_wheel(_dir(tmp_path / "b"), "bobproj", "1.0", marker="b")
    assert first.name == rival.name and first.read_bytes() != rival.read_bytes()

    def rival_lands_and_is_deleted() -> None:
        answer = post_file(inprocess, bob, rival, "bobproj", "1.0", "bdist_wheel")
        assert answer.status_code == 200
        _delete(inprocess.data_dir, "bobproj", "1.0", rival.name)

    _before_record(monkeypatch, rival_lands_and_is_deleted)
    answer = post_file(inprocess, bob, first, "bobproj", "1.0", "bdist_wheel")
    assert (answer.status_code, answer.reason) == (500, "Internal Server Error")
    assert _projects(inprocess.data_dir) == {"bobproj": [seed.name]}
    assert sorted(p.name for p in (inprocess.data_dir / "packages").iterdir()) == [
        seed.name,
        seed.name + ".metadata",
    ]


def test_a_project_deleted_during_the_upload_is_not_recreated(inprocess, tmp_path, monkeypatch):
    """The project the first look found is deleted before the transaction: the upload
    is refused, the project is not re-created for the uploader (no rate-limit hit,
    no name rules skipped)."""
    bob = inprocess.mint("bob")
    seed = write_wheel(_dir(tmp_path / "seed"), "bobproj", "0.1")
    assert post_file(inprocess, bob, seed, "bobproj", "0.1", "bdist_wheel").status_code == 200
    second = write_wheel(tmp_path, "bobproj", "2.0")
    _before_record(monkeypatch, lambda: _delete(inprocess.data_dir, "bobproj"))
    answer = post_file(inprocess, bob, second, "bobproj", "2.0", "bdist_wheel")
    assert (answer.status_code, answer.reason) == (500, "Internal Server Error")
    assert _projects(inprocess.data_dir) == {}
    assert list((inprocess.data_dir / "packages").iterdir()) == []


@pytest.mark.parametrize("what", ["file", "project"])
def test_reuploads_racing_deletion_never_resurrect_a_file(inprocess, tmp_path, what):
    """Issue 16's attack, free-running: Bob re-uploads Alice's bytes under his own
    project while Alice deletes the file (or her project). Every answer is 200
    (a duplicate, nothing recorded) or a refusal; Alice's file name is never
    recorded under Bob's project."""
    alice, bob = inprocess.mint("alice"), inprocess.mint("bob")
    seed = write_wheel(_dir(tmp_path / "seed"), "bobproj", "0.1")
    assert post_file(inprocess, bob, seed, "bobproj", "0.1", "bdist_wheel").status_code == 200
    rounds = 6
    wheels = [write_wheel(_dir(tmp_path / str(n)), "alicepkg", f"1.{n}") for n in range(rounds)]
    statuses: list[int] = []
    for n, wheel in enumerate(wheels):
        answer = post_file(inprocess, alice, wheel, "alicepkg", f"1.{n}", "bdist_wheel")
        assert answer.status_code == 200
        stop = threading.Event()

        def bob_retries(wheel=wheel, stop=stop) -> None:
            while not stop.is_set():
                got = post_file(inprocess, bob, wheel, "bobproj", "1.0", "bdist_wheel")
                statuses.append(got.status_code)

        racer = threading.Thread(target=bob_retries)
        racer.start()
        try:
            if what == "file":
                _delete(inprocess.data_dir, "alicepkg", f"1.{n}", wheel.name)
            else:
                _delete(inprocess.data_dir, "alicepkg")
            for _ in range(3):  # a few attempts after the deletion too
                got = post_file(inprocess, bob, wheel, "bobproj", "1.0", "bdist_wheel")
                statuses.append(got.status_code)
        finally:
            stop.set()
            racer.join(60)
        assert _projects(inprocess.data_dir).get("bobproj") == [seed.name]
    assert statuses and set(statuses) <= {200, 400, 500}
    assert 400 in statuses  # after the deletion: "previously used by a file ... deleted"
