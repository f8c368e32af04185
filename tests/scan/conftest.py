"""The scanner tests' fixtures: a throwaway HOME for git and pre-commit, a consumer repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import PRE_COMMIT, ROOT, commit_through_hook, git_env


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """pre-commit's store in a temp folder; git with no global config or hooks."""
    return git_env(tmp_path_factory.mktemp("home"))


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
