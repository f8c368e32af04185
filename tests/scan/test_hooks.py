"""The pre-commit hooks, in a real temporary git repository, offline.

The consumer repository uses this project's own ``.pre-commit-config.yaml``
(its ``.venv/bin/`` entries made absolute), so what is proved is what the
project itself runs. A second consumer uses the exported
``.pre-commit-hooks.yaml`` through ``repo: <path>``, as any project would.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ISSUERS, SHAPES, assert_no_token, git, mint
from helpers import commit_through_hook as _commit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRE_COMMIT = str(BIN / "pre-commit")


@pytest.mark.parametrize("issuer", list(ISSUERS))
def test_commit_adding_a_token_is_refused(repo: Path, env: dict[str, str], issuer: str) -> None:
    token = mint(issuer, project=issuer == "private")
    files = {f"{shape.name}/{shape.filename}": shape.render(token) for shape in SHAPES}
    result = _commit(repo, env, files, expect=1)
    out = result.stdout + result.stderr
    assert "no PyPI tokens" in out and "Failed" in out
    for shape in SHAPES:
        assert f"{shape.name}/{shape.filename}:{shape.line}:" in out, shape.name
    domain = ISSUERS[issuer][0]
    assert out.count(f"PyPI token (macaroon, issuer {domain},") == len(SHAPES)
    assert_no_token(out, token)
    assert git(repo, "log", "--oneline").stdout.count("\n") == 1  # nothing committed


def test_a_refused_commit_prints_no_clean_batch_summary(repo: Path, env: dict[str, str]) -> None:
    """pre-commit runs the scanner in batches (one per core) and shows them all on failure."""
    token = mint("test.pypi.org")
    files: dict[str, str | None] = {f"docs/page{i:02}.md": "nothing\n" for i in range(40)}
    files["docs/zz.ini"] = f"password = {token}\n"
    result = _commit(repo, env, files, expect=1)
    out = result.stdout + result.stderr
    assert "docs/zz.ini:1:12: PyPI token" in out
    assert "no PyPI token found" not in out
    assert out.count("tokentool: 1 PyPI token(s) found in 1 file(s)") == 1
    assert "in this batch" in out and "--allow=FINGERPRINT" in out
    assert_no_token(out, token)


def test_allowed_fixtures_pass(repo: Path, env: dict[str, str]) -> None:
    inline, listed = mint("test.pypi.org"), mint("pypi.org")
    digest = hashlib.sha256(listed.encode()).hexdigest()
    files = {
        "tests/fixture.py": f'TOKEN = "{inline}"  # tokentool: allow\n',
        "tests/fixture.json": f'{{"token": "{listed}"}}\n',
        ".tokentool-allowlist": f"# fixtures\n{digest}  # tests/fixture.json\n",
    }
    result = _commit(repo, env, files, expect=0)
    out = result.stdout + result.stderr
    assert re.search(r"no PyPI tokens\.+Passed", out)
    assert_no_token(out, inline, listed)


def test_clean_commit_passes(repo: Path, env: dict[str, str]) -> None:
    text = "Set TWINE_PASSWORD to your token (it starts with pypi-AgENdGVzdC5weXBpLm9yZw).\n"
    result = _commit(repo, env, {"docs/usage.md": text}, expect=0)
    assert re.search(r"no PyPI tokens\.+Passed", result.stdout + result.stderr)


@pytest.mark.parametrize("name", [".env", "deploy/.env"])
def test_commit_of_dotenv_is_refused(repo: Path, env: dict[str, str], name: str) -> None:
    result = _commit(repo, env, {name: "TOKEN=\n"}, expect=1)
    out = result.stdout + result.stderr
    assert re.search(r"no \.env files\.+Failed", out)
    assert ".env holds a live credential and must never be committed" in out
    assert f"\n{name}\n" in out


def test_dotenv_example_is_committed(repo: Path, env: dict[str, str]) -> None:
    result = _commit(repo, env, {".env.example": "TOKEN=\n"}, expect=0)
    assert re.search(
        r"no \.env files\.+\(no files to check\)Skipped", result.stdout + result.stderr
    )


def test_exported_manifest_is_valid() -> None:
    result = subprocess.run(
        [PRE_COMMIT, "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_exported_hook_through_repo_path(tmp_path: Path, env: dict[str, str]) -> None:
    """``repo: <path>`` clones the exported manifest; its id, ``types`` and entry apply.

    ``language: python`` would pip-install this project (and its dependencies)
    from an index: the consumer overrides only the language so the test stays
    offline, with the entry the manifest gives resolved on PATH (this venv).
    """
    provider = tmp_path / "provider"
    provider.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", provider)
    subprocess.run(["git", "init", "-q", str(provider)], check=True, env=env)
    git(provider, "add", ".pre-commit-hooks.yaml")
    subprocess.run(["git", "commit", "-qm", "hooks"], cwd=provider, env=env, check=True)
    rev = git(provider, "rev-parse", "HEAD").stdout.strip()

    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {provider}\n    rev: {rev}\n"
        "    hooks:\n      - id: no-pypi-tokens\n        language: system\n"
    )
    subprocess.run(["git", "init", "-q", str(consumer)], check=True, env=env)
    install = subprocess.run([PRE_COMMIT, "install"], cwd=consumer, env=env, capture_output=True)
    assert install.returncode == 0
    token = mint("localhost")
    result = _commit(consumer, env, {"config.ini": f"password = {token}\n"}, expect=1)
    out = result.stdout + result.stderr
    assert "config.ini:1:12: PyPI token (macaroon, issuer localhost," in out
    assert_no_token(out, token)
    _commit(consumer, env, {"README.md": "no secrets\n", ".pre-commit-config.yaml": None}, expect=0)

    # Allowing from the hook's config, as the refusal says: the staged names stay names.
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    (consumer / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {provider}\n    rev: {rev}\n"
        "    hooks:\n      - id: no-pypi-tokens\n        language: system\n"
        f"        args: [--allow={fingerprint}]\n"
    )
    files = {"config.ini": f"password = {token}\n", ".pre-commit-config.yaml": None}
    allowed = _commit(consumer, env, files, expect=0)
    assert re.search(r"no PyPI tokens\.+Passed", allowed.stdout + allowed.stderr)
    assert not (consumer / ".tokentool-allowlist").exists()
    other = mint("localhost")
    refused = _commit(consumer, env, {"more.ini": f"password = {other}\n"}, expect=1)
    assert "more.ini:1:12: PyPI token" in refused.stdout + refused.stderr


def test_the_readme_hook_snippet_works_as_written(tmp_path: Path, env: dict[str, str]) -> None:
    """The README's snippet with its two placeholders filled in: a clone's path, its SHA.

    ``language: system`` is added (as above) so pre-commit needs no index; the
    rev is a full SHA, which pre-commit takes without its mutable-reference warning.
    """
    (snippet,) = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
        if "rev:" in b
    ]
    provider = tmp_path / "tokentool"
    provider.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", provider)
    subprocess.run(["git", "init", "-q", str(provider)], check=True, env=env)
    git(provider, "add", ".pre-commit-hooks.yaml")
    subprocess.run(["git", "commit", "-qm", "hooks"], cwd=provider, env=env, check=True)
    sha = git(provider, "rev-parse", "HEAD").stdout.strip()
    placeholder = re.search(r"rev: (\S+)", snippet)
    assert placeholder is not None
    config = snippet.replace("/path/to/tokentool", str(provider)).replace(placeholder[1], sha)
    config = config.replace(
        "- id: no-pypi-tokens", "- id: no-pypi-tokens\n        language: system"
    )
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / ".pre-commit-config.yaml").write_text(config)
    subprocess.run(["git", "init", "-q", str(consumer)], check=True, env=env)
    install = subprocess.run([PRE_COMMIT, "install"], cwd=consumer, env=env, capture_output=True)
    assert install.returncode == 0
    token = mint("pypi.org")
    result = _commit(consumer, env, {"deploy.cfg": f"password = {token}\n"}, expect=1)
    out = result.stdout + result.stderr
    assert "deploy.cfg:1:12: PyPI token" in out
    assert "mutable reference" not in out
    assert_no_token(out, token)
