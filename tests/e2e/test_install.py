"""The toolkit as a user gets it: a wheel installed (not editable) into a fresh
environment, used from an empty folder with a ``.env`` and a one-line
``tasks.py``; the exported hook from another repository; the hooks' output.

The fresh environment gets tokentool from the wheel and nothing else from this
checkout; its dependencies are reached through a ``.pth`` line naming this
venv's site-packages (so the test needs no network), where tokentool itself is
only an editable-install pointer that a ``.pth`` line never activates.
"""

from __future__ import annotations

import ast
import email
import os
import re
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from helpers import TASKS_LINE, Ran, assert_no_token, clean_environ, git_env, write_env
from helpers import run as run_program

from tokentool.index import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> Ran:
    return run_program(argv, cwd=cwd, env=env or clean_environ(HOME=str(cwd)), timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    ran = run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        cwd=out,
    )
    assert ran.returncode == 0, ran.output
    (path,) = out.glob("tokentool-*.whl")
    return path


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(zf.read(name))


def test_wheel_carries_everything(wheel: Path) -> None:
    import tokentool

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for needed in (
        "tokentool/tasks.py",
        "tokentool/py.typed",
        "tokentool/workflow/__init__.py",
        "tokentool/_sample_project/pyproject.toml",
        "tokentool/_sample_project/tokentool_sample/__init__.py",
        "tokentool/index/__init__.py",
        "tokentool/index/rules/malware_rules/pyarmor.yar",
        "tokentool/index/rules/malware_rules/sourcedefender.yar",
    ):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    assert _metadata(wheel)["Version"] == tokentool.__version__
    assert wheel.name.startswith(f"tokentool-{tokentool.__version__}-")


def test_wheel_ships_exactly_the_sample_project(wheel: Path) -> None:
    """The top-level sample_project/ (the design card) is in the wheel, file for file."""
    tracked = subprocess.run(
        ["git", "ls-files", "sample_project"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "sample_project/ has no tracked files"
    expected = {"tokentool/_sample_project/" + name.split("/", 1)[1] for name in tracked}
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.startswith("tokentool/_sample_project/")}
        for name in expected:
            assert zf.read(name) == (ROOT / "sample_project" / name.split("/", 2)[2]).read_bytes()
    assert shipped == expected


def _requirements(wheel: Path) -> dict[str, set[str]]:
    """Distribution names required by the base install ("") and by each extra."""
    wanted: dict[str, set[str]] = {}
    for line in _metadata(wheel).get_all("Requires-Dist") or []:
        name = re.split(r"[ ;<>=!\[]", line, maxsplit=1)[0].lower().replace("_", "-")
        extra = re.search(r"extra == ['\"]([^'\"]+)['\"]", line)
        wanted.setdefault(extra[1] if extra else "", set()).add(name)
    return wanted


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.partition(".")[0])
    return names


def test_every_import_is_a_declared_dependency_and_the_base_is_light(wheel: Path) -> None:
    from importlib.metadata import packages_distributions

    wanted = _requirements(wheel)
    declared = set().union(*wanted.values())
    owners = packages_distributions()
    missing = []
    for path in (ROOT / "tokentool").rglob("*.py"):
        if "sample" in path.parts:
            continue
        for module in _imports(path) - set(sys.stdlib_module_names) - {"tokentool"}:
            dists = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
            if not dists & declared:
                missing.append(f"{path.relative_to(ROOT)}: {module}")
    optional = {"tokentool/workflow/_sources.py: keyring"}  # used only if importable, as twine
    assert set(missing) <= optional, missing
    assert {"pypitoken", "pymacaroons"} <= wanted[""]
    # The hook's environment: none of the upload or stand-in stacks.
    assert not wanted[""] & {"twine", "invoke", "build", "pypiserver", "waitress", "requests"}
    assert {"twine", "invoke", "build", "requests", "python-dotenv"} <= wanted["upload"]
    assert {"waitress", "multipart", "yara-x"} <= wanted["index"]


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed, not editable; dependencies through a .pth line."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    python = where / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], where
    )
    (Path(purelib.stdout.strip()) / "zz_deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    ran = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        cwd=where,
    )
    assert ran.returncode == 0, ran.output
    where_from = run([str(python), "-c", "import tokentool; print(tokentool.__file__)"], where)
    assert where_from.stdout.strip().startswith(purelib.stdout.strip()), where_from.output
    return where


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory):
    with start_server(tmp_path_factory.mktemp("standin")) as server:
        yield server


def _user_project(tmp_path: Path, server: RunningServer, user: str) -> tuple[Path, str]:
    project = tmp_path / "my-project"
    project.mkdir()
    (project / "tasks.py").write_text(TASKS_LINE)
    raw = server.mint(user)
    write_env(project, TOKEN=raw, REPOSITORY_URL=server.upload_url, PYPI_USERNAME=user)
    return project, raw


def test_installed_tasks_in_an_empty_project(
    fresh: Path, standin: RunningServer, tmp_path: Path
) -> None:
    project, raw = _user_project(tmp_path, standin, "installed")
    python = str(fresh / "bin" / "python")
    up = run([python, "-m", "invoke", "upload", "--project", "inst-tasks"], project)
    assert up.returncode == 0, up.output
    assert "accepted: both files uploaded" in up.stdout
    assert "token from: TOKEN in .env" in up.stdout
    verify = run([python, "-m", "invoke", "verify-rejection", "--project", "inst-tasks"], project)
    assert verify.returncode == 0, verify.output
    assert verify.stdout.strip().endswith("not valid for project: 'inst-tasks'")
    for ran in (up, verify):
        assert "Traceback" not in ran.output
        assert_no_token(ran.output, raw)
    assert sorted(p.name for p in project.iterdir()) == [".env", "tasks.py"]


def test_installed_commands_in_an_empty_project(
    fresh: Path, standin: RunningServer, tmp_path: Path
) -> None:
    project, raw = _user_project(tmp_path, standin, "commands")
    (project / "tasks.py").unlink()  # no invoke at all: the root is the folder with .env's
    (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    tool = str(fresh / "bin" / "tokentool")
    up = run([tool, "upload", "--project", "inst-cmds"], project)
    assert up.returncode == 0, up.output
    verify = run([tool, "verify-rejection", "--project", "inst-cmds", "--case", "expired"], project)
    assert verify.returncode == 0, verify.output
    assert verify.stdout.strip().endswith("403 Invalid API Token: token is expired")
    for ran in (up, verify):
        assert_no_token(ran.output, raw)


def test_init_sets_up_a_project_from_the_installed_wheel(
    fresh: Path, standin: RunningServer, tmp_path: Path
) -> None:
    """``tokentool init`` in an empty repository: tasks that upload, a hook that refuses."""
    from helpers import mint

    env = git_env(tmp_path / "home")
    env["PATH"] = f"{fresh / 'bin'}{os.pathsep}{env['PATH']}"  # the hook's `tokentool scan`
    project = _consumer(tmp_path, env, {})
    init = run([str(fresh / "bin" / "tokentool"), "init"], project, env)
    assert init.returncode == 0, init.output
    assert sorted(p.name for p in project.iterdir() if p.name != ".git") == [
        ".env",
        ".gitignore",
        ".pre-commit-config.yaml",
        "tasks.py",
    ]
    assert (project / ".env").stat().st_mode & 0o777 == 0o600
    raw = standin.mint("initialized")
    env_text = (project / ".env").read_text()
    (project / ".env").write_text(
        env_text.replace("\nTOKEN=\n", f"\nTOKEN={raw}\n").replace(
            "REPOSITORY_URL=https://test.pypi.org/legacy/", f"REPOSITORY_URL={standin.upload_url}"
        )
    )
    python = str(fresh / "bin" / "python")
    up = run([python, "-m", "invoke", "upload", "--project", "inst-init"], project, env)
    assert up.returncode == 0, up.output
    assert "token from: TOKEN in .env" in up.stdout
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], project, env)
    assert ".env" not in status.stdout.split() and "dist/" not in status.stdout
    assert ".tokentool/" not in status.stdout

    hooks = run([str(BIN / "pre-commit"), "install"], project, env)
    assert hooks.returncode == 0, hooks.output
    (project / "deploy.cfg").write_text(f"password = {mint('pypi.org')}\n")
    run(["git", "add", "-A"], project, env)
    refused = run(["git", "commit", "-qm", "x"], project, env)
    assert refused.returncode == 1 and "deploy.cfg:1:12: PyPI token" in refused.output
    run(["git", "rm", "-q", "--cached", "deploy.cfg"], project, env)
    run(["git", "add", "-f", ".env"], project, env)
    dotenv = run(["git", "commit", "-qm", "x"], project, env)
    assert dotenv.returncode == 1 and ".env holds a live credential" in dotenv.output
    assert_no_token(up.output + refused.output + dotenv.output, raw)


def _consumer(tmp_path: Path, env: dict[str, str], files: dict[str, str]) -> Path:
    repo = tmp_path / "consumer"
    repo.mkdir()
    for name, text in files.items():
        (repo / name).write_text(text)
    assert run(["git", "init", "-q", str(repo)], repo, env).returncode == 0
    assert run(["git", "add", "-A"], repo, env).returncode == 0
    return repo


def test_no_hook_output_contains_a_committed_token(tmp_path: Path) -> None:
    """A token on a line too long for ruff: the scanner reports it, ruff never shows the line."""
    from helpers import mint

    token = mint("test.pypi.org")
    config = (ROOT / ".pre-commit-config.yaml").read_text().replace(".venv/bin/", f"{BIN}/")
    env = git_env(tmp_path / "home")
    repo = _consumer(
        tmp_path,
        env,
        {
            ".pre-commit-config.yaml": config,
            "pyproject.toml": (ROOT / "pyproject.toml").read_text(),  # this project's ruff rules
            "settings.py": f'TOKEN = "{token}"  # {"x" * 40}\nimport os\n',
        },
    )
    ran = run([str(BIN / "pre-commit"), "run", "--all-files"], repo, env)
    assert ran.returncode == 1
    out = ran.output
    assert re.search(r"no PyPI tokens\.+Failed", out)
    assert "settings.py:1:" in out and "E501" in out and "E402" in out  # ruff did run
    assert out.index("no PyPI tokens") < out.index("ruff check")
    assert_no_token(out, token)


def test_exported_hook_from_another_repository(tmp_path: Path) -> None:
    """``pre-commit try-repo`` installs this project as the hook's own environment."""
    from helpers import mint

    token = mint("pypi.org")
    env = git_env(tmp_path / "home")
    repo = _consumer(tmp_path, env, {"deploy.cfg": f"password = {token}\n", "ok.txt": "fine\n"})
    ran = run(
        [str(BIN / "pre-commit"), "try-repo", str(ROOT), "no-pypi-tokens", "--all-files"],
        repo,
        env,
        timeout=600,
    )
    assert ran.returncode == 1, ran.output
    assert "deploy.cfg:1:12: PyPI token (macaroon, issuer pypi.org," in ran.output
    assert_no_token(ran.output, token)
    # try-repo's store is temporary: the hook's environment is measured below.


def _closure(requirement: str) -> dict[str, int]:
    """Installed size of every distribution a base install of ``requirement`` pulls in."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    sizes: dict[str, int] = {}
    todo = [requirement]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in sizes:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        sizes[key] = sum(f.size or 0 for f in dist.files or [])
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sizes


def test_the_hook_environment_is_small() -> None:
    """What ``language: python`` installs for the hook: tokentool and its base dependencies."""
    sizes = _closure("tokentool")
    sizes.pop("tokentool")
    total = sum(sizes.values())
    print(f"\nhook environment: {len(sizes)} distributions, {total / 1e6:.1f} MB: {sorted(sizes)}")
    heavy = {"twine", "invoke", "build", "pypiserver", "waitress", "requests", "cryptography"}
    assert not heavy & set(sizes), sorted(sizes)
    assert len(sizes) <= 15, sorted(sizes)
