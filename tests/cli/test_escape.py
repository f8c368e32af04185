"""Text from outside reaches the terminal escaped: token fields, usernames, reasons."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import tokentool
from tokentool._safety import escape
from tokentool.index import Index

BIN = Path(sys.executable).parent
FORGED = "x\x1b[2K\r\nissuer:      pypi.org\u202e"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, é, ü", "plain text, é, ü"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("\x7f\x9b", "\\x7f\\x9b"),
        ("bidi \u202eevil", "bidi \\u202eevil"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
    ],
)
def test_escape(text: str, shown: str) -> None:
    assert escape(text) == shown
    assert escape(shown) == shown  # already printable: unchanged


def test_inspect_cannot_forge_a_line() -> None:
    raw = tokentool.mint(
        domain=FORGED, identifier=str(uuid.uuid4()), key=b"k" * 32, user_id=str(uuid.uuid4())
    )
    ran = subprocess.run(
        [str(BIN / "tokentool"), "inspect"], input=raw, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert "\x1b" not in ran.stdout and "\u202e" not in ran.stdout
    lines = ran.stdout.splitlines()
    assert [line for line in lines if line.startswith("issuer:")] == ["issuer:      other"]
    assert "domain:      x\\x1b[2K\\x0d\\x0aissuer:      pypi.org\\u202e" in lines


def test_index_list_escapes_usernames(tmp_path: Path) -> None:
    with Index(tmp_path / "data") as index:
        try:
            index.mint("eve\x1b]0;owned\x07")
        except tokentool.TokenError:
            pytest.skip("the stand-in refuses such usernames outright")
    ran = subprocess.run(
        [str(BIN / "tokentool"), "index", "list", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "\x1b" not in ran.stdout and "\x07" not in ran.stdout
    assert "eve\\x1b]0;owned\\x07" in ran.stdout
