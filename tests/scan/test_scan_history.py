"""``tokentool scan --history``: every blob of a real temporary repository, once.

Repositories with many commits are written with ``git fast-import`` (a
thousand commits in a fraction of a second); small ones with plain git.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from helpers import assert_no_token, mint, run_scan

from tokentool.scan import Scanner
from tokentool.scan._history import HistoryError, HistoryStats, scan_history

#: Commit dates: 2023-11-14 onwards, one hour apart.
EPOCH = 1_700_000_000

#: (branch, message, {path: content or None to delete}, merged-in mark or None)
Commit = tuple[str, str, dict[str, "str | bytes | None"], "int | None"]


def fast_import(repo: Path, commits: Iterable[Commit]) -> None:
    """Write ``commits`` into ``repo`` (created) in one ``git fast-import`` run."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    chunks: list[bytes] = []
    for mark, (branch, message, files, merge) in enumerate(commits, start=1):
        msg = message.encode()
        chunks.append(
            f"commit refs/heads/{branch}\nmark :{mark}\n"
            f"committer T <t@example.invalid> {EPOCH + 3600 * mark} +0000\n"
            f"data {len(msg)}\n".encode()
            + msg
            + b"\n"
        )
        if merge is not None:
            chunks.append(f"merge :{merge}\n".encode())
        for path, content in files.items():
            if content is None:
                chunks.append(f"D {path}\n".encode())
                continue
            data = content.encode() if isinstance(content, str) else content
            chunks.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(chunks), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=repo, check=True)


def commits_of(repo: Path, ref: str = "--all") -> list[str]:
    """Commit ids, oldest first."""
    out = subprocess.run(
        ["git", "rev-list", "--reverse", "--topo-order", ref],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_token_committed_then_deleted_is_found_with_its_commit(tmp_path: Path) -> None:
    token = mint("test.pypi.org")
    fast_import(
        tmp_path,
        [
            ("main", "start", {"README.md": "hello\n"}, None),
            (
                "main",
                "settings",
                {"config/settings.py": f'A = 1\nB = 2\nTOKEN = "{token}"\n'},
                None,
            ),
            ("main", "oops, remove it", {"config/settings.py": "A = 1\nB = 2\n"}, None),
        ],
    )
    assert run_scan(cwd=tmp_path).returncode == 0  # the work tree is clean
    result = run_scan("--history", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    introduced = commits_of(tmp_path)[1]
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    assert result.stdout == (
        f"{introduced[:12]}:config/settings.py:3:10: PyPI token (macaroon, issuer "
        f"test.pypi.org, identifier {mint_identifier(token)}) pypi-AgEN…(redacted) "
        f"fingerprint {fingerprint}\n"
    )
    assert "1 PyPI token(s) found in history" in result.stderr
    assert "scanned 3 commit(s), 3 blob(s)" in result.stderr
    assert "revoke" in result.stderr
    assert_no_token(result.stdout + result.stderr, token)


def mint_identifier(token: str) -> str:
    import tokentool

    return tokentool.load(token).identifier


def test_token_in_1000_commits_is_reported_once(tmp_path: Path) -> None:
    """1,000 versions of the file hold the token: 1,000 blobs read, one finding."""
    token = mint("pypi.org")
    other = mint("localhost")
    lines = [f"TOKEN={token}"]
    commits: list[Commit] = [("main", "c0", {"app.env": "\n".join(lines) + "\n"}, None)]
    for n in range(1, 1000):
        lines.append(f"SETTING_{n}={n}")
        files: dict[str, str | bytes | None] = {"app.env": "\n".join(lines) + "\n"}
        if n == 500:
            files["copy.env"] = f"# same token, another file\nT={token}\n"
        if n % 100 == 0:  # the same blob at many paths and commits: read once
            files[f"same/{n}.txt"] = f"identical {other}\n"
        commits.append(("main", f"c{n}", files, None))
    fast_import(tmp_path, commits)
    ids = commits_of(tmp_path)
    result = run_scan("--history", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{ids[0][:12]}:app.env:1:7: PyPI token (macaroon, issuer pypi.org, identifier "
        f"{mint_identifier(token)}) pypi-AgEI…(redacted) "
        f"fingerprint {hashlib.sha256(token.encode()).hexdigest()[:12]}",
        f"{ids[100][:12]}:same/100.txt:1:11: PyPI token (macaroon, issuer localhost, identifier "
        f"{mint_identifier(other)}) pypi-AgEJ…(redacted) "
        f"fingerprint {hashlib.sha256(other.encode()).hexdigest()[:12]}",
        f"{ids[500][:12]}:copy.env:2:3: PyPI token (macaroon, issuer pypi.org, identifier "
        f"{mint_identifier(token)}) pypi-AgEI…(redacted) "
        f"fingerprint {hashlib.sha256(token.encode()).hexdigest()[:12]}",
    ]
    # 1,000 versions of app.env, copy.env once, the identical blob once.
    assert "scanned 1000 commit(s), 1002 blob(s)" in result.stderr


def test_range_since_and_merges(tmp_path: Path) -> None:
    early, merged = mint("pypi.org"), mint("private")
    fast_import(
        tmp_path,
        [
            ("main", "early", {"a.txt": f"{early}\n"}, None),  # 1
            ("main", "clean", {"a.txt": None, "b.txt": "b\n"}, None),  # 2
            ("side", "side", {"c.txt": "side\n"}, None),  # 3 (a root of its own)
            # An evil merge: the token is only in the merge's own tree.
            ("main", "merge", {"m.txt": f"{merged}\n"}, 3),  # 4
        ],
    )
    ids = commits_of(tmp_path)
    by_message = {
        subprocess.run(
            ["git", "log", "-1", "--format=%s", c], cwd=tmp_path, capture_output=True, text=True
        ).stdout.strip(): c
        for c in ids
    }
    everything = run_scan("--history", cwd=tmp_path)
    assert everything.returncode == 1
    assert [line[:12] for line in everything.stdout.splitlines()] == [
        by_message["early"][:12],
        by_message["merge"][:12],
    ]
    recent = run_scan("--history", f"{by_message['early']}..main", cwd=tmp_path)
    assert [line.split(":")[1] for line in recent.stdout.splitlines()] == ["m.txt"]
    side = run_scan("--history", "side", cwd=tmp_path)
    assert (side.returncode, side.stdout) == (0, "")
    since = run_scan("--history", "--since", "2023-11-15 02:00:00 +0000", cwd=tmp_path)
    assert [line.split(":")[1] for line in since.stdout.splitlines()] == ["m.txt"]


def test_history_allowing_and_binaries(tmp_path: Path) -> None:
    fixture, marked, wide, hidden = (
        mint(i) for i in ("localhost", "localhost", "pypi.org", "private")
    )
    fast_import(
        tmp_path,
        [
            (
                "main",
                "fixtures",
                {
                    "tests/fixture.json": f'{{"t": "{fixture}"}}\n',
                    "tests/marked.py": f'T = "{marked}"  # tokentool: allow\n',
                    "win/settings.ini": f"TOKEN={wide}\r\n".encode("utf-16"),
                    "bin/blob.dat": b"\0\1\2" + hidden.encode(),
                },
                None,
            ),
        ],
    )
    result = run_scan("--history", cwd=tmp_path)
    assert result.returncode == 1
    assert [line.split(":")[1] for line in result.stdout.splitlines()] == [
        "tests/fixture.json",
        "win/settings.ini",
    ]
    assert "1 allowed" in result.stderr and "(1 binary skipped)" in result.stderr
    fingerprints = [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()]
    allowed = run_scan("--history", "--allow", ",".join(fingerprints), cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "allowed 2 token(s)" in allowed.stderr and "3 allowed" in allowed.stderr
    binary = run_scan("--history", "--include-binary", cwd=tmp_path)
    assert [line.split(":")[1] for line in binary.stdout.splitlines()] == ["bin/blob.dat"]
    out = result.stdout + allowed.stderr + binary.stdout
    assert_no_token(out, fixture, marked, wide, hidden)


def test_history_errors_are_one_line(tmp_path: Path) -> None:
    outside = run_scan("--history", cwd=tmp_path)
    assert outside.returncode == 2
    assert outside.stderr.startswith("tokentool: error: git rev-list failed: fatal: not a git")
    assert len(outside.stderr.splitlines()) == 1
    fast_import(tmp_path / "r", [("main", "one", {"a": "a\n"}, None)])
    bad = run_scan("--history", "no-such-rev", cwd=tmp_path / "r")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert "unknown revision" in bad.stderr
    option = run_scan("--history", "--", "--output=x", cwd=tmp_path / "r")
    assert option.returncode == 2
    assert option.stderr == "tokentool: error: not a revision: '--output=x'\n"
    assert not (tmp_path / "r" / "x").exists()
    wrong = run_scan("--since", "yesterday", cwd=tmp_path / "r")
    assert wrong.stderr == "tokentool: error: --since only applies with --history\n"


def test_stopping_early_ends_the_git_processes(tmp_path: Path) -> None:
    token = mint()
    fast_import(
        tmp_path,
        [("main", f"c{n}", {f"f{n}.txt": f"{n} {token}\n"}, None) for n in range(50)],
    )
    findings = scan_history(Scanner(), cwd=tmp_path)
    first = next(findings)
    assert first.path == "f0.txt"
    findings.close()  # kills and reaps rev-list, diff-tree and cat-file
    with pytest.raises(HistoryError, match="not a revision"):
        list(scan_history(Scanner(), ["-p"], cwd=tmp_path))
    stats = HistoryStats()
    assert len(list(scan_history(Scanner(), cwd=tmp_path, stats=stats))) == 50  # one per path
    assert (stats.commits, stats.blobs) == (50, 50)
