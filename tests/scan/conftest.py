"""The scanner tests' fixtures: a throwaway HOME for git and pre-commit, a consumer repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, PRE_COMMIT, ROOT, commit_through_hook


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """pre-commit's store in a temp folder; git with no global config or hooks."""
    home = tmp_path_factory.mktemp("home")
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PRE_COMMIT", "TWINE_", "TOKEN"))
    }
    environ.update(
        HOME=str(home),
        PRE_COMMIT_HOME=str(home / "pre-commit-cache"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return environ


@pytest.fixture(scope="module")
def repo(tmp_path_factory, env: dict[str, str]) -> Path:
    """A repository using the project's own hook configuration, hook installed."""
    path = tmp_path_factory.mktemp("consumer")
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    assert ".venv/bin/" in config
    (path / ".pre-commit-config.yaml").write_text(
        config.replace(".venv/bin/", f"{ROOT}/.venv/bin/")
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    install = subprocess.run(
        [PRE_COMMIT, "install"], cwd=path, env=env, capture_output=True, text=True
    )
    assert install.returncode == 0, install.stdout + install.stderr
    commit_through_hook(path, env, {".pre-commit-config.yaml": None}, expect=0)
    return path
