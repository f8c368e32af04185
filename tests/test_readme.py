"""The README as a newcomer reads it: links that exist, install lines that work as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_link_is_a_file_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert links
    for link in links:
        if link.startswith(("http://", "https://", "#")):
            continue
        assert (ROOT / link.split("#")[0]).exists(), link
    assert "shared/" not in README  # outside the repository: a reader has no such folder


def _console_commands() -> list[list[str]]:
    blocks = re.findall(r"```console\n(.*?)```", README, re.DOTALL)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
            if line.startswith("$ "):
                commands.append(shlex.split(line[2:], comments=True))
    return commands


def test_no_install_line_asks_an_index_for_tokentool() -> None:
    """No release exists on any index: every tokentool install names a path or a git URL."""
    installs = [c for c in _console_commands() if c[:2] == ["pip", "install"]]
    assert installs
    for argv in installs:
        wanted = [a for a in argv[2:] if not a.startswith("-")]
        for spec in wanted:
            if "tokentool" not in spec:
                assert "--index-url" in argv, argv  # an upload of the sample, from the stand-in
                continue
            assert spec.startswith("/") or " @ git+" in spec, argv
    prose = re.findall(r"pip install '([^']+)'", README)
    for spec in prose:
        assert spec.startswith("/") or " @ git+" in spec, spec


def test_the_hook_snippet_pins_a_full_commit_sha() -> None:
    (snippet,) = [b for b in re.findall(r"```yaml\n(.*?)```", README, re.DOTALL) if "rev:" in b]
    rev = re.search(r"rev: (\S+)", snippet)
    assert rev and re.fullmatch(r"[0-9a-f]{40}", rev[1])  # pre-commit: a SHA is immutable
    assert "id: no-pypi-tokens" in snippet
