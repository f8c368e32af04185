"""``tokentool init``: what a project needs to use tokentool, written once, never overwritten.

After ``pip install``, a project has no ``tasks.py``, no ``.env`` template (the
repository's ``.env.example`` is not in the wheel) and nothing keeping ``.env``,
``.tokentool/`` and ``dist/`` out of git. ``init`` writes them into the project
root (``tokentool._root.find_root``, or the folder given):

- ``tasks.py``: the one line that gives Invoke tokentool's tasks;
- ``.env``: the template, created with mode 600 (it will hold a live token);
- ``.gitignore``: the three lines it lacks, appended;
- ``.pre-commit-config.yaml``: the token scanner and the ``.env`` guard.

A file that exists is skipped and named, with what it would have needed; each
new file appears whole or not at all (written aside, then linked into place,
which fails rather than replace anything).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tokentool._safety import escape
from tokentool.cli._base import Parser, guarded

PROG = "tokentool init"

TASKS_PY = "from tokentool.tasks import *  # noqa: F403  (tokentool's tasks: invoke --list)\n"

#: The ``.env`` template; the repository's ``.env.example`` is this text (a test checks).
ENV_TEMPLATE = """\
# Copy to .env and fill in. NEVER commit .env: it holds a live credential.
# (.gitignore keeps it out, and the no-pypi-tokens / no-dotenv pre-commit hooks refuse it.)
# Keep it private: chmod 600 .env (the tasks warn when other users can read it).
# It lives in the project root (the folder holding tasks.py) and is used from any
# subfolder. Read without interpolation ($ is literal); real environment variables
# win over this file, and command-line options (--repository-url, --project) win over both.

# Your user-wide API token from https://test.pypi.org/manage/account/token/
# (starts with pypi-AgENdGVzdC5weXBpLm9yZw). Required by every task but build;
# never printed, never put on a command line: tasks derive restricted tokens from it.
# Or leave it out and keep the token where twine finds it: keyring, ~/.pypirc,
# TWINE_PASSWORD (README: "Where the token comes from").
TOKEN=

# Upload URL of the index. Default: https://test.pypi.org/legacy/
# A pypi.org or test.pypi.org token only goes to its own site's URL; tokens of
# other issuers (a private index, the local stand-in: `invoke index`) only to the host
# they name, unless --allow-other-host. It ends in /legacy/ (not /simple/).
# Production https://upload.pypi.org/legacy/ also needs --allow-production.
# (INDEX_URL, its old name, is still read.)
REPOSITORY_URL=https://test.pypi.org/legacy/

# Your username on the index; the default project name is test-<username>-<YYYY-MM-DD>,
# as in the tutorial. Optional if you always pass --project=NAME.
PYPI_USERNAME=
"""

#: What git must never see: the token, the stand-in's data (root keys), built files.
GITIGNORE_LINES = (".env", ".tokentool/", "dist/")

PRE_COMMIT_CONFIG = """\
# Written by `tokentool init`. Turn the git hook on once: pre-commit install
repos:
  # The token scanner of the environment you commit from (where tokentool is
  # installed). To pin a version instead, use the exported hook:
  #   - repo: <URL or path of a tokentool clone>
  #     rev: <the full commit SHA you reviewed>
  #     hooks: [{id: no-pypi-tokens}]
  - repo: local
    hooks:
      - id: no-pypi-tokens
        name: no PyPI tokens
        entry: tokentool scan
        language: system
        types: [file]  # UTF-16/32 text counts as binary to pre-commit
        # A deliberate fixture: args: [--allow=FINGERPRINT] (as a refusal prints it)
      - id: no-dotenv
        name: no .env files
        entry: >-
          .env holds a live credential and must never be committed:
          git rm --cached it (.gitignore lists it)
        language: fail
        files: (^|/)\\.env$
"""

DESCRIPTION = f"""\
Write what a project needs to use tokentool into its root (the nearest folder
above holding tasks.py, else pyproject.toml, else the current folder; or
FOLDER). Nothing is ever overwritten: a file that exists is skipped and named.

  tasks.py                 {TASKS_PY.split("  #")[0]} (invoke --list)
  .env                     the settings template, mode 600: put your token in TOKEN
  .gitignore               the lines it lacks of: {", ".join(GITIGNORE_LINES)}
  .pre-commit-config.yaml  the token scanner and a guard against committing .env
                           (then: pre-commit install)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        metavar="FOLDER",
        help="where to write (default: the project root, as the other commands find it)",
    )
    return parser


def _create(path: Path, text: str, mode: int) -> bool:
    """Write ``text`` to a new file ``path`` with ``mode``; ``False`` if ``path`` exists.

    Written aside and hard-linked into place: ``link`` fails if anything (even a
    dangling symlink) has the name, so nothing is replaced, and the file is
    never seen half-written.
    """
    if os.path.lexists(path):
        return False
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            os.link(aside, path)
        except FileExistsError:
            return False
    finally:
        os.unlink(aside)
    return True


def _gitignore(path: Path) -> list[str]:
    """Append the lines ``.gitignore`` lacks; the ones added (none: nothing written)."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in present]
    if missing:
        before = ("" if text.endswith("\n") else "\n") + "\n" if text else ""
        block = before + "# tokentool: the token, the stand-in's data, built files\n"
        with open(path, "a", encoding="utf-8") as out:
            out.write(block + "".join(f"{line}\n" for line in missing))
    return missing


def run(args: argparse.Namespace) -> int:
    from tokentool._root import find_root

    root = (args.folder or find_root()).resolve()
    if not root.is_dir():
        raise NotADirectoryError(20, "not a folder", str(root))
    say = print
    shown = escape(str(root))
    say(f"tokentool init in {shown}")
    if _create(root / "tasks.py", TASKS_PY, 0o644):
        say("  wrote tasks.py: invoke --list shows the tasks")
    else:
        say(f"  skipped tasks.py: it exists (the tasks need the line: {TASKS_PY.split('  #')[0]})")
    if _create(root / ".env", ENV_TEMPLATE, 0o600):
        say("  wrote .env (mode 600): put your Test PyPI token in TOKEN")
    else:
        say("  skipped .env: it exists (keep it private: chmod 600 .env)")
    added = _gitignore(root / ".gitignore")
    if added:
        say(f"  added to .gitignore: {', '.join(added)}")
    else:
        say(f"  skipped .gitignore: it lists {', '.join(GITIGNORE_LINES)} already")
    if _create(root / ".pre-commit-config.yaml", PRE_COMMIT_CONFIG, 0o644):
        say("  wrote .pre-commit-config.yaml: run pre-commit install to turn the hook on")
    else:
        say(
            "  skipped .pre-commit-config.yaml: it exists (the hook to add: "
            "tokentool scan --help ends with it)"
        )
    return 0


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    return guarded(lambda: run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
