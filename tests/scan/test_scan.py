"""The token scanner: recall on every issuer and shape, near-misses, streaming, CLI.

Every token here is minted at test time with a random key, so this file itself
passes the scanner (the project's own pre-commit hook checks it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ISSUERS, SHAPES, TOKENTOOL, Shape, assert_no_token, mint, run_scan, std_b64
from hypothesis import given, settings
from hypothesis import strategies as st

import tokentool
from tokentool import scan
from tokentool.scan import Allowlist, Scanner, scan_paths

ROOT = Path(__file__).resolve().parents[2]
# --- recall: every issuer, every shape ---------------------------------------


def test_corpus_every_planted_token_is_found(tmp_path: Path) -> None:
    planted: dict[tuple[str, int], str] = {}
    tokens: list[str] = []
    for issuer in ISSUERS:
        for project in (False, True):
            token = mint(issuer, project=project)
            tokens.append(token)
            identifier = tokentool.load(token).identifier
            folder = tmp_path / issuer / ("project" if project else "user")
            folder.mkdir(parents=True)
            for shape in SHAPES:
                (folder / shape.filename).write_text(shape.render(token))
                planted[(str(folder / shape.filename), shape.line)] = identifier
    assert sum(std_b64(t).endswith("=") for t in tokens) >= len(ISSUERS)  # padding exercised
    findings = scan_paths([tmp_path])
    found = {(f.path, f.line): f for f in findings}
    missing = sorted(set(planted) - set(found))
    assert not missing, f"recall below 100%: {missing}"
    assert len(findings) == len(planted)
    for key, identifier in planted.items():
        finding = found[key]
        assert finding.decoded, key
        assert finding.identifier == identifier
        assert finding.domain == ISSUERS[Path(key[0]).parent.parent.name][0]
        assert finding.redacted.endswith("…(redacted)") and len(finding.redacted) == 20
        assert finding.allowed is None
    assert_no_token(repr(findings), *tokens)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_line_and_column(tmp_path: Path, shape: Shape) -> None:
    token = mint("test.pypi.org")
    text = shape.render(token)
    path = tmp_path / shape.filename
    path.write_text(text)
    [finding] = scan_paths([path])
    line = text.splitlines()[finding.line - 1]
    assert finding.line == shape.line
    assert line[finding.column - 1 :].startswith("pypi-")
    assert finding.redacted == "pypi-AgEN…(redacted)"
    assert (finding.domain, finding.kind) == ("test.pypi.org", "macaroon")


def test_every_spelling_hashes_the_same(tmp_path: Path) -> None:
    """The allowlist keys on the token, not on how a file happened to spell it."""
    token = mint("pypi.org")
    for shape in SHAPES:
        (tmp_path / shape.filename).write_text(shape.render(token))
    digests = {f.digest for f in scan_paths([tmp_path])}
    assert digests == {hashlib.sha256(token.encode()).hexdigest()}


def test_column_counts_characters_and_finds_every_token_on_a_line(tmp_path: Path) -> None:
    a, b = mint("pypi.org"), mint("localhost")
    (tmp_path / "f.txt").write_text(f"é {a} ü,{b}\n")
    first, second = scan_paths([tmp_path / "f.txt"])
    assert (first.column, first.domain) == (3, "pypi.org")
    assert (second.column, second.domain) == (3 + len(a) + 3, "localhost")


def test_token_after_prose_and_inside_a_longer_prefix(tmp_path: Path) -> None:
    """``pypi-server-pypi-AgE…`` and ``testpypi-AgE…``: the macaroon is the secret."""
    a, b = mint("pypi.org"), mint("private")
    (tmp_path / "f.txt").write_text(f"see pypi-server-{a}\nTEST=test{b}\n")
    findings = scan_paths([tmp_path])
    assert [(f.line, f.domain) for f in findings] == [(1, "pypi.org"), (2, "pypi.example.com")]


# --- near-misses --------------------------------------------------------------

NEAR_MISSES = [
    "the bare prefix pypi- alone",
    "pypi-",
    "run pypi-server and pypi-simple; see pypi-readme and pypi-AgE",
    "tokens of test.pypi.org start pypi-AgENdGVzdC5weXBpLm9yZw, of pypi.org pypi-AgEIcHlwaS5vcmc",
    "GitHub's pattern: pypi-AgEIcHlwaS5vcmc[A-Za-z0-9-_]{70,}",
    "Paste your token (it starts with pypi-) into TWINE_PASSWORD.",
    "url = https://pypi-mirror.example.com/simple/ and https://__token__:pypi-@host",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_prose_and_prefixes_are_not_reported(tmp_path: Path, text: str) -> None:
    (tmp_path / "doc.md").write_text(text + "\n")
    assert scan_paths([tmp_path]) == []


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=48, max_size=300))
def test_random_base64_is_never_a_real_macaroon(tmp_path_factory, data: bytes) -> None:
    body = base64.urlsafe_b64encode(data).decode().rstrip("=")
    path = tmp_path_factory.mktemp("r") / "r.txt"
    path.write_text(f"x = pypi-{body}\n")
    findings = scan_paths([path])
    assert all(not f.decoded for f in findings)
    if not re.match("Ag[E-L]", body):
        assert findings == []


def test_damaged_token_is_token_shaped(tmp_path: Path) -> None:
    token = mint("localhost")
    damaged = token[:30] + "!" + token[31:]  # breaks the run: both halves are damaged
    truncated = token[:-60]
    (tmp_path / "f.txt").write_text(f"{damaged}\n{truncated}\n")
    findings = scan_paths([tmp_path])
    assert [(f.line, f.kind, f.domain) for f in findings] == [(2, "token-shaped", None)]
    assert "token-shaped, not a decodable macaroon" in findings[0].describe()


# --- streaming ----------------------------------------------------------------


@pytest.mark.parametrize("newlines", [True, False], ids=["lines", "one-long-line"])
def test_tokens_across_chunk_boundaries(tmp_path: Path, monkeypatch, newlines: bool) -> None:
    """With 64-byte chunks every token straddles boundaries at every offset."""
    monkeypatch.setattr(scan, "CHUNK", 64)
    monkeypatch.setattr(scan, "MAX_CARRY", 32)
    tokens = [mint(issuer) for issuer in ("pypi.org", "test.pypi.org", "private")]
    parts: list[str] = []
    expected: list[tuple[int, int]] = []
    line, column = 1, 1
    for offset in range(70):
        filler = "x" * offset + " "
        token = tokens[offset % 3]
        parts += [filler, token, "\n" if newlines else " "]
        column += len(filler)
        expected.append((line, column))
        if newlines:
            line, column = line + 1, 1
        else:
            column += len(token) + 1
    (tmp_path / "f.txt").write_text("".join(parts))
    findings = scan_paths([tmp_path / "f.txt"])
    assert [(f.line, f.column) for f in findings] == expected
    assert all(f.decoded for f in findings)


def test_marker_is_seen_on_a_line_longer_than_a_chunk(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scan, "CHUNK", 64)
    token = mint()
    (tmp_path / "f.txt").write_text("y" * 500 + f" {token} " + "z" * 500 + " # tokentool: allow\n")
    [finding] = scan_paths([tmp_path])
    assert finding.allowed == "inline marker"


@pytest.mark.slow
def test_a_1_gib_file_is_streamed(tmp_path: Path) -> None:
    """1 GiB (sparse: zeros then a token) costs MiB of memory, not GiB."""
    token = mint("pypi.org")
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.seek(1 << 30)
        f.write(f"{token}\n".encode())
    code = (
        "import re, sys\n"
        "from tokentool.cli.scan import main\n"
        "rc = main(['--include-binary', sys.argv[1]])\n"
        # VmHWM is this process's own peak: ru_maxrss would carry over pytest's
        # peak through fork+exec.
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print('maxrss', hwm, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(big)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr
    assert f"big.bin:1:{(1 << 30) + 1}: PyPI token (macaroon, issuer pypi.org" in result.stdout
    maxrss_kib = int(re.search(r"maxrss (\d+)", result.stderr).group(1))
    assert maxrss_kib < 80 * 1024, f"{maxrss_kib} KiB"
    assert_no_token(result.stdout + result.stderr, token)


# --- walking, binaries, allowing ------------------------------------------------


def test_walk_skips_git_venv_binaries_and_symlinks(tmp_path: Path) -> None:
    token = mint()
    for name in (".git/config", ".venv/lib/x.py", "src/.git/y", "ok/.venv/z"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(token)
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" + token.encode())
    (tmp_path / "kept.txt").write_text(token)
    (tmp_path / "link.txt").symlink_to(tmp_path / "kept.txt")
    scanner = Scanner()
    assert [f.path for f in scanner.scan([tmp_path])] == [str(tmp_path / "kept.txt")]
    assert scanner.binary_skipped == 1
    binaries = Scanner(include_binary=True)
    assert len(list(binaries.scan([tmp_path / "blob.bin"]))) == 1
    # A file named explicitly is read even inside a skipped folder.
    assert len(scan_paths([tmp_path / ".venv/lib/x.py"])) == 1


def test_inline_marker_and_allowlist(tmp_path: Path) -> None:
    a, b, c = mint("pypi.org"), mint("test.pypi.org"), mint("localhost")
    (tmp_path / "f.py").write_text(f'A = "{a}"  # tokentool: allow\nB = "{b}"\nC = "{c}"\n')
    listed = hashlib.sha256(b.encode()).hexdigest()
    findings = scan_paths([tmp_path], allowlist=[listed])
    assert [(f.line, f.allowed) for f in findings] == [
        (1, "inline marker"),
        (2, "allowlist"),
        (3, None),
    ]


def test_allowlist_update_keeps_comments_and_never_holds_a_token(tmp_path: Path) -> None:
    path = tmp_path / ".tokentool-allowlist"
    path.write_text("# fixtures for the demo\n" + "0" * 64 + "  # old entry\n")
    allowlist = Allowlist.read(path)
    token = mint()
    (tmp_path / "f.txt").write_text(token + "\n" + token + "\n")
    findings = scan_paths([tmp_path / "f.txt"])
    assert allowlist.add(findings) == 1
    text = path.read_text()
    assert text.startswith("# fixtures for the demo\n" + "0" * 64 + "  # old entry\n")
    assert hashlib.sha256(token.encode()).hexdigest() in text
    assert_no_token(text, token)
    assert Allowlist.read(path).digests == {"0" * 64, findings[0].digest}
    assert allowlist.add(findings) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --- the command --------------------------------------------------------------


def test_cli_reports_redacted_and_exits_1(tmp_path: Path) -> None:
    token = mint("private")
    identifier = tokentool.load(token).identifier
    (tmp_path / ".env").write_text(f"TOKEN={token}\n")
    result = run_scan(".", cwd=tmp_path)
    assert result.returncode == 1
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    assert result.stdout == (
        f"./.env:1:7: PyPI token (macaroon, issuer pypi.example.com, identifier {identifier}) "
        f"pypi-AgEQ…(redacted) fingerprint {fingerprint}\n"
    )
    assert "tokentool: 1 PyPI token(s) found in 1 file(s)" in result.stderr
    assert_no_token(result.stdout + result.stderr, token)


def test_cli_clean_exits_0(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("Install with pypi-server; tokens start pypi-AgE.\n")
    result = run_scan(str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "")
    assert "tokentool: no PyPI token found; 0 allowed; scanned 1 file(s)" in result.stderr


def test_cli_unreadable_path_exits_2_and_says_which(tmp_path: Path) -> None:
    token = mint()
    (tmp_path / "f.txt").write_text(token)
    missing = tmp_path / "missing.txt"
    result = run_scan(str(tmp_path / "f.txt"), str(missing))
    assert result.returncode == 2
    assert f"tokentool: error: cannot read {missing}: No such file or directory" in result.stderr
    assert result.stdout.count("PyPI token (macaroon") == 1  # what could be read is reported
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_cli_permission_denied_exits_2(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    result = run_scan(str(secret))
    assert result.returncode == 2
    assert f"tokentool: error: cannot read {secret}: Permission denied" in result.stderr


def test_cli_allow_adds_exactly_the_fingerprints_given(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    token, other = mint("test.pypi.org"), mint("localhost")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fixture.json").write_text(json.dumps({"token": token, "b": other}))
    first = run_scan("tests", cwd=tmp_path)
    assert first.returncode == 1
    assert "--allow FINGERPRINT" in first.stderr and "--update-allowlist" not in first.stderr
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    assert f"fingerprint {fingerprint}\n" in first.stdout
    update = run_scan("tests", "--allow", fingerprint, cwd=tmp_path)
    assert update.returncode == 1, update.stderr  # the other token is still reported
    assert "allowed 1 token(s)" in update.stderr and "revoke" in update.stderr
    assert update.stdout.count("PyPI token") == 1 and "pypi-AgEJ…" in update.stdout
    allowlist = (tmp_path / ".tokentool-allowlist").read_text()
    assert hashlib.sha256(token.encode()).hexdigest() in allowlist
    assert hashlib.sha256(other.encode()).hexdigest() not in allowlist
    assert "revoked" in allowlist  # the file itself says what allowing means
    assert_no_token(allowlist + update.stdout + update.stderr, token, other)
    # From a subfolder too: the default allowlist is at the repository root.
    again = run_scan("fixture.json", cwd=tmp_path / "tests")
    assert again.returncode == 1 and "1 allowed" in again.stderr
    shown = run_scan("--show-allowed", "fixture.json", cwd=tmp_path / "tests")
    assert f"pypi-AgEN…(redacted) fingerprint {fingerprint} [allowed: allowlist]\n" in shown.stdout


def test_cli_allow_unknown_fingerprint_writes_nothing(tmp_path: Path) -> None:
    token = mint()
    (tmp_path / "f.txt").write_text(token)
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    allowlist = tmp_path / "list"
    for bad, message in (
        (["0" * 12], "no finding has fingerprint 000000000000; nothing allowed"),
        ([f"{fingerprint},f.txt"], "--allow: not a fingerprint: 'f.txt'"),
    ):
        args = ["--allowlist", str(allowlist), str(tmp_path), "--allow", fingerprint]
        args += [f"--allow={b}" for b in bad]
        result = run_scan(*args)
        assert result.returncode == 2
        assert message in result.stderr
        assert not allowlist.exists()
    assert "in a pre-commit hook's args, one item: --allow=FINGERPRINT" in result.stderr


def test_cli_allow_takes_one_value_so_paths_after_it_stay_paths(tmp_path: Path) -> None:
    """As a hook's ``args: [--allow, FP]`` puts it: the staged file names follow."""
    tokens = [mint(), mint("localhost")]
    for i, token in enumerate(tokens):
        (tmp_path / f"f{i}.txt").write_text(token)
    fps = [hashlib.sha256(t.encode()).hexdigest()[:12] for t in tokens]
    allowlist = str(tmp_path / "list")
    one = run_scan("--allowlist", allowlist, "--allow", fps[0], "f0.txt", "f1.txt", cwd=tmp_path)
    assert one.returncode == 1 and one.stdout.count("PyPI token") == 1, one.stderr
    both = run_scan("--allowlist", allowlist, f"--allow={fps[1]},{fps[0]}", ".", cwd=tmp_path)
    assert both.returncode == 0 and "allowed 1 token(s) (2 in all)" in both.stderr


def test_cli_as_a_hook_a_clean_batch_says_nothing_and_allow_writes_nothing(
    tmp_path: Path,
) -> None:
    token = mint()
    (tmp_path / "clean.txt").write_text("nothing here\n")
    (tmp_path / "f.txt").write_text(token)
    fp = hashlib.sha256(token.encode()).hexdigest()[:12]
    clean = run_scan("clean.txt", cwd=tmp_path, hook=True)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    assert "--hook" in run_scan("--help").stdout
    assert run_scan("--hook", "clean.txt", cwd=tmp_path).stderr == ""
    found = run_scan("clean.txt", "f.txt", cwd=tmp_path, hook=True)
    assert found.returncode == 1
    assert "1 PyPI token(s) found in 1 file(s); 0 allowed; scanned 2 file(s) in this batch" in (
        found.stderr
    )
    assert "add it to the hook's args in .pre-commit-config.yaml as --allow=FINGERPRINT" in (
        found.stderr
    )
    # From the hook's config: allowed for the run, nothing written, absent ones no error.
    allowed = run_scan(f"--allow={fp},{'0' * 12}", "clean.txt", "f.txt", cwd=tmp_path, hook=True)
    assert (allowed.returncode, allowed.stdout, allowed.stderr) == (0, "", "")
    assert not (tmp_path / ".tokentool-allowlist").exists()


def test_cli_update_allowlist_needs_a_terminal(tmp_path: Path) -> None:
    token = mint()
    (tmp_path / "f.txt").write_text(token)
    result = run_scan("--update-allowlist", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "tokentool: error: --update-allowlist allows every finding at once and needs a "
        "confirmation on a terminal; allow findings one by one with --allow FINGERPRINT\n"
    )
    assert not (tmp_path / ".tokentool-allowlist").exists()


def _on_terminal(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run ``tokentool scan`` with a pseudo-terminal as stdin and stderr; type ``answer``."""
    import pty

    main, side = pty.openpty()
    try:
        proc = subprocess.Popen(
            [TOKENTOOL, "scan", *args], cwd=cwd, stdin=side, stderr=side, stdout=subprocess.PIPE
        )
        os.close(side)
        os.write(main, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=120)
        said = b""
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            said += data
    finally:
        os.close(main)
    return proc.returncode, out.decode() + said.decode("utf-8", "replace")


def test_cli_update_allowlist_on_a_terminal_asks(tmp_path: Path) -> None:
    token = mint()
    (tmp_path / "f.txt").write_text(token)
    allowlist = tmp_path / ".tokentool-allowlist"
    rc, said = _on_terminal(
        ["--update-allowlist", "--allowlist", str(allowlist), "f.txt"], "yes", tmp_path
    )
    assert rc == 1 and "nothing allowed" in said and 'Type "allow all"' in said
    assert not allowlist.exists()
    rc, said = _on_terminal(
        ["--update-allowlist", "--allowlist", str(allowlist), "f.txt"], "allow all", tmp_path
    )
    assert rc == 0, said
    assert hashlib.sha256(token.encode()).hexdigest() in allowlist.read_text()


def test_cli_bad_allowlist_exits_2(tmp_path: Path) -> None:
    (tmp_path / "list").write_text("pypi-notahash\n")
    (tmp_path / "f.txt").write_text("x")
    result = run_scan("--allowlist", str(tmp_path / "list"), str(tmp_path / "f.txt"))
    assert result.returncode == 2
    assert result.stderr == (
        f"tokentool: error: bad allowlist {tmp_path / 'list'}:1: "
        "not a SHA-256 hash (64 lowercase hex digits)\n"
    )


def test_cli_no_path_scans_what_git_tracks(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    token = mint()
    (tmp_path / "tracked.txt").write_text(token)
    (tmp_path / "untracked.txt").write_text(token)
    subprocess.run(["git", "add", "tracked.txt"], cwd=tmp_path, check=True)
    result = run_scan(cwd=tmp_path)
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["tracked.txt"]


def test_cli_no_path_outside_git_exits_2(tmp_path: Path) -> None:
    result = run_scan(cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "tokentool: error: no PATH given and not inside a git repository\n"


def test_cli_help_and_listing() -> None:
    result = run_scan("--help")
    assert result.returncode == 0
    assert "tokentool: allow" in result.stdout and "--allow FINGERPRINT" in result.stdout
    top = subprocess.run([TOKENTOOL, "--help"], capture_output=True, text=True)
    assert re.search(r"^\s+scan\s+find PyPI tokens", top.stdout, re.M)


def test_the_project_passes_its_own_scanner() -> None:
    result = run_scan(cwd=ROOT)
    assert result.returncode == 0, result.stdout
