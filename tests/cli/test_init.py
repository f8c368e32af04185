"""``tokentool init``: the files a project needs, written once, never overwritten."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from helpers import clean_environ, run

from tokentool.cli.init import ENV_TEMPLATE, GITIGNORE_LINES, PRE_COMMIT_CONFIG, TASKS_PY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def init(folder: Path, *args: str):
    return run([str(BIN / "tokentool"), "init", *args], cwd=folder, env=clean_environ(), timeout=60)


def test_init_writes_the_four_files(tmp_path: Path) -> None:
    ran = init(tmp_path)
    assert ran.returncode == 0, ran.output
    assert ran.stdout.splitlines() == [
        f"tokentool init in {tmp_path.resolve()}",
        "  wrote tasks.py: invoke --list shows the tasks",
        "  wrote .env (mode 600): put your Test PyPI token in TOKEN",
        "  added to .gitignore: .env, .tokentool/, dist/",
        "  wrote .pre-commit-config.yaml: run pre-commit install to turn the hook on",
    ]
    assert (tmp_path / "tasks.py").read_text() == TASKS_PY
    assert (tmp_path / ".env").read_text() == ENV_TEMPLATE
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert (tmp_path / ".gitignore").read_text().splitlines()[1:] == list(GITIGNORE_LINES)
    assert (tmp_path / ".pre-commit-config.yaml").read_text() == PRE_COMMIT_CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".env",
        ".gitignore",
        ".pre-commit-config.yaml",
        "tasks.py",
    ]  # nothing left aside
    valid = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(tmp_path / ".pre-commit-config.yaml")],
        capture_output=True,
        text=True,
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_init_never_overwrites_and_says_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("# mine\n")
    (tmp_path / ".gitignore").write_text("dist/\n.venv/")  # no final newline
    os.symlink(tmp_path / "elsewhere", tmp_path / ".env")  # dangling: never followed
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    ran = init(tmp_path)
    assert ran.returncode == 0, ran.output
    assert ran.stdout.splitlines()[1:] == [
        "  skipped tasks.py: it exists (the tasks need the line: from tokentool.tasks import *)",
        "  skipped .env: it exists (keep it private: chmod 600 .env)",
        "  added to .gitignore: .env, .tokentool/",
        "  skipped .pre-commit-config.yaml: it exists (the hook to add: tokentool scan --help "
        "ends with it)",
    ]
    assert (tmp_path / "tasks.py").read_text() == "# mine\n"
    assert not (tmp_path / "elsewhere").exists()
    assert (tmp_path / ".pre-commit-config.yaml").read_text() == "repos: []\n"
    assert (tmp_path / ".gitignore").read_text() == (
        "dist/\n.venv/\n\n# tokentool: the token, the stand-in's data, built files\n"
        ".env\n.tokentool/\n"
    )
    again = init(tmp_path)
    assert "  skipped .gitignore: it lists .env, .tokentool/, dist/ already" in again.stdout
    assert (tmp_path / ".gitignore").read_text().count(".env") == 1


def test_init_writes_into_the_project_root_or_the_folder_given(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "src").mkdir()
    assert init(tmp_path / "src").returncode == 0
    assert (tmp_path / "tasks.py").exists() and not (tmp_path / "src" / "tasks.py").exists()
    other = tmp_path / "other"
    other.mkdir()
    assert init(tmp_path, str(other)).returncode == 0
    assert (other / ".env").exists()
    missing = init(tmp_path, str(tmp_path / "missing"))
    assert missing.returncode == 2 and missing.stderr.startswith("tokentool: error: not a folder")


def test_init_help_says_what_it_writes() -> None:
    ran = run([str(BIN / "tokentool"), "init", "--help"], env=clean_environ(), timeout=60)
    assert ran.returncode == 0
    for name in ("tasks.py", ".env", "mode 600", ".gitignore", ".pre-commit-config.yaml"):
        assert name in ran.stdout
    assert "Nothing is ever overwritten" in " ".join(ran.stdout.split())


def test_the_repository_env_example_is_the_template() -> None:
    assert (ROOT / ".env.example").read_text() == ENV_TEMPLATE
