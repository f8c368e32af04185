"""The scanner on hostile input: bounded work, no hang, no crash, nothing raw on a terminal.

Each input here once hung, crashed or blew up the scanner (issue 12). Sizes
are bounded; speed itself is measured in benchmarks/bench_scan.py, so the
assertions here are on work and memory, with only generous time-outs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_no_token, mint, run_scan
from helpers import commit_through_hook as _commit

from tokentool import scan
from tokentool._safety import escape
from tokentool.scan import Scanner, scan_paths, wide_encoding

MIB = 1 << 20

#: One 1 MiB line each: the literal repeated, bodies that start like a
#: macaroon, one endless body, URL-encoded pieces, and decoys between.
ADVERSARIAL = {
    "literal.txt": b"pypi-",
    "macaroon-starts.txt": b"pypi-AgE",
    "url-encoded.txt": b"pypi-AgE%2B",
    "decoys.txt": b"pypi-AgFpypi-",
    "nested.txt": b"pypi-pypi-AgI",
}


def _adversarial(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name, unit in ADVERSARIAL.items():
        (folder / name).write_bytes((unit * (MIB // len(unit) + 1))[:MIB])
    (folder / "endless-body.txt").write_bytes(b"pypi-AgE" + b"A" * MIB)


def test_adversarial_lines_cost_linear_work(tmp_path: Path, monkeypatch) -> None:
    """Each byte is decoded at most once: total decoded length <= file size."""
    _adversarial(tmp_path)
    decoded: list[int] = []
    real = scan._decode.__wrapped__

    def counting(body: str) -> object:
        decoded.append(len(body))
        return real(body)

    monkeypatch.setattr(scan, "_decode", counting)
    scanner = Scanner()
    findings = list(scanner.scan([tmp_path]))
    assert scanner.errors == []
    assert sum(decoded) <= 6 * MIB
    assert max(decoded) <= scan.MAX_BODY
    # Token-shaped runs are reported, each judged on at most MAX_BODY bytes.
    assert findings and not any(f.decoded for f in findings)
    assert len(findings) <= 6 * MIB // scan.MIN_SHAPED


def test_adversarial_lines_in_flat_memory(tmp_path: Path) -> None:
    """The command's own peak memory stays flat (it was 443 MB at 64 KiB, quadratic)."""
    _adversarial(tmp_path)
    code = (
        "import re, sys\n"
        "from tokentool.cli.scan import main\n"
        "rc = main(['--allowlist', '/dev/null', sys.argv[1]])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print('maxrss', hwm, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    # Generous: the old scanner needed minutes for one such file; this one, well under 1 s.
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "scanned 6 file(s), 6.0 MiB" in result.stderr
    maxrss_kib = int(re.search(r"maxrss (\d+)", result.stderr).group(1))
    assert maxrss_kib < 80 * 1024, f"{maxrss_kib} KiB"


def test_a_token_after_a_long_adversarial_run_is_found(tmp_path: Path, monkeypatch) -> None:
    """Across chunk cuts inside a huge line, the real token at the end is still decoded."""
    monkeypatch.setattr(scan, "CHUNK", 4096)
    monkeypatch.setattr(scan, "MAX_CARRY", 1024)
    token = mint("pypi.org")
    (tmp_path / "f.txt").write_text("pypi-" * 100_000 + " " + token + "\n")
    [finding] = scan_paths([tmp_path / "f.txt"])
    assert (finding.decoded, finding.line, finding.column) == (True, 1, 500_002)


# --- files that are not files -------------------------------------------------


def test_fifo_named_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "ok.txt").write_text(mint())
    result = run_scan(str(fifo), str(tmp_path / "ok.txt"))  # times out if it opens the FIFO
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"tokentool: error: cannot read {fifo}: a FIFO, not a regular file"
    )
    assert result.stdout.count("PyPI token") == 1
    # A socket likewise.
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        result = run_scan(str(sock_path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].endswith(": a socket, not a regular file")
    # Inside a folder both are skipped, like a symlink: the rest is scanned.
    folder = run_scan(str(tmp_path))
    assert folder.returncode == 1 and "error" not in folder.stderr


def test_device_is_never_read_even_with_include_binary() -> None:
    result = run_scan("--include-binary", "/dev/zero")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "tokentool: error: cannot read /dev/zero: a character device, not a regular file\n"
    )


def test_deep_tree_is_walked_without_recursion(tmp_path: Path) -> None:
    token = mint("test.pypi.org")
    depth = 1200
    path = tmp_path
    for _ in range(depth):
        path = path / "d"
        path.mkdir()
    (path / "deep.env").write_text(f"TOKEN={token}\n")
    try:
        [finding] = scan_paths([tmp_path])
        assert finding.path == str(path / "deep.env")
        assert finding.domain == "test.pypi.org"
    finally:
        # shutil.rmtree recurses too: undo the tree bottom up.
        (path / "deep.env").unlink()
        while path != tmp_path:
            path.rmdir()
            path = path.parent


def test_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "kept.txt").write_text(mint())
    (tmp_path / "top.txt").write_text(mint())
    (tmp_path / "sub" / "up").symlink_to("..")
    (tmp_path / "sub" / "self").symlink_to(".")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    scanner = Scanner()
    assert [f.path for f in scanner.scan([tmp_path])] == [
        str(tmp_path / "sub" / "kept.txt"),
        str(tmp_path / "top.txt"),
    ]
    assert scanner.errors == []
    # A folder named twice (directly and through a link) is walked once.
    again = Scanner()
    assert len(list(again.scan([tmp_path, tmp_path / "sub" / "up"]))) == 2
    # Named on the command line, a looping link is one line and exit 2.
    result = run_scan(str(tmp_path / "a"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"tokentool: error: cannot read {tmp_path / 'a'}: Too many levels of symbolic links"
    )


# --- wide text ----------------------------------------------------------------

WIDE = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


@pytest.mark.parametrize("codec", WIDE)
def test_utf16_and_utf32_text_is_scanned(tmp_path: Path, codec: str) -> None:
    """With a byte-order mark (``utf-16``, ``utf-32``) or without one (NUL pattern)."""
    token = mint("private")
    text = f"# réglages, 設定\r\nTOKEN={token}\r\nmore = 'ü'\r\n" * 3
    path = tmp_path / "settings.ini"
    path.write_bytes(text.encode(codec))
    findings = scan_paths([path])
    assert [(f.line, f.column, f.domain) for f in findings] == [
        (2, 7, "pypi.example.com"),
        (5, 7, "pypi.example.com"),
        (8, 7, "pypi.example.com"),
    ]
    result = run_scan(str(path))
    assert result.returncode == 1 and "binary skipped" in result.stderr
    assert "(0 binary skipped)" in result.stderr
    assert_no_token(result.stdout + result.stderr, token)


def test_commit_hook_refuses_a_utf16_file(repo: Path, env: dict[str, str]) -> None:
    """pre-commit calls UTF-16 binary: the hook takes every file and sniffs it itself."""
    token = mint("pypi.org")
    (repo / "win.ini").write_bytes(f"[auth]\r\nTOKEN={token}\r\n".encode("utf-16"))
    result = _commit(repo, env, {"win.ini": None}, expect=1)
    out = result.stdout + result.stderr
    assert "win.ini:2:7: PyPI token (macaroon, issuer pypi.org," in out
    assert_no_token(out, token)


def test_binaries_are_not_taken_for_wide_text(tmp_path: Path) -> None:
    samples = [
        Path(sys.executable).resolve().read_bytes()[:8000],
        bytes(8000),
        bytes(range(256)) * 31,
        b"\x01\x00\x02\x00\x03\x00" * 1000,  # small int16s: not printable text
        os.urandom(8000),
    ]
    for sample in samples:
        assert wide_encoding(sample) is None


# --- what reaches the terminal --------------------------------------------------


def test_control_characters_are_escaped_everywhere(tmp_path: Path) -> None:
    import secrets
    import uuid

    import tokentool

    evil = tokentool.mint(
        domain="evil\x1b[2J.example",
        identifier="id\x1b]0;owned\x07\u202e",
        key=secrets.token_bytes(32),
        user_id=str(uuid.uuid4()),
    )
    name = "report\x1b[31m\r.txt"
    (tmp_path / name).write_text(f"{evil}\n")
    missing = tmp_path / "gone\x1b[1A.txt"
    result = run_scan(str(tmp_path), str(missing))
    out = result.stdout + result.stderr
    assert result.returncode == 2
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out and "\x07" not in out
    shown = "report\\x1b[31m\\x0d.txt:1:1: PyPI token (macaroon, issuer evil\\x1b[2J.example, "
    assert shown in out
    assert "identifier id\\x1b]0;owned\\x07\\u202e)" in out
    assert "cannot read " + escape(str(missing)) in out
    assert_no_token(out, evil)


def test_escape() -> None:
    assert escape("plain é 設定") == "plain é 設定"
    assert escape("a\tb\nc\x00\x7f\x9b") == "a\\x09b\\x0ac\\x00\\x7f\\x9b"
    assert escape("\u2028\u202e\u2066") == "\\u2028\\u202e\\u2066"
    assert escape(b"caf\xff".decode("utf-8", "surrogateescape")) == "caf\\xff"
