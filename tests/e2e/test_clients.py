"""Real upload clients against the stand-in, each building with its own backend.

twine (setuptools via ``python -m build``), uv publish (uv_build), hatch
publish (hatchling), pdm publish (pdm-backend), poetry publish (poetry-core)
and flit publish (flit_core) are installed from the package index into
their own virtual environments, once per test session. For each: a user-wide
token is accepted, a token restricted to another project is refused with
warehouse's words, and so is an expired one; the assertions check the words
each client prints, as it prints them for Test PyPI. Tokens travel in the
environment only, never in argv.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import venv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import Ran, run, twine_env, unique

import tokentool
from tokentool.index import RunningServer, start_server

pytestmark = pytest.mark.slow

SCOPE_REFUSAL = "Invalid API Token: project-scoped token is not valid for project"
EXPIRED_REFUSAL = "Invalid API Token: token is expired"


@dataclasses.dataclass(frozen=True)
class Client:
    name: str
    #: pip requirement of the tool, or None for the one in this venv (twine)
    requirement: str | None
    backend: tuple[str, str]  # (requires, build-backend)
    src_layout: bool = False


CLIENTS = [
    Client("twine", None, ("setuptools>=77", "setuptools.build_meta")),
    Client("uv", "uv>=0.8", ("uv_build>=0.8,<1", "uv_build"), src_layout=True),
    Client("hatch", "hatch>=1.14", ("hatchling>=1.27", "hatchling.build")),
    Client("pdm", "pdm[locked]>=2.20", ("pdm-backend>=2.4", "pdm.backend")),
    Client("poetry", "poetry>=2.1", ("poetry-core>=2.1", "poetry.core.masonry.api")),
    Client("flit", "flit>=3.12", ("flit_core>=3.12,<5", "flit_core.buildapi")),
]


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Client], Path]:
    """``tools(client) -> bin directory``: one venv per client, made once per session."""
    root = tmp_path_factory.mktemp("clients")
    made: dict[str, Path] = {}

    def get(client: Client) -> Path:
        if client.requirement is None:
            return Path(sys.executable).parent
        if client.name not in made:
            env_dir = root / client.name
            venv.create(env_dir, with_pip=True)
            pip = env_dir / "bin" / "pip"
            subprocess.run(
                [str(pip), "install", "--quiet", client.requirement],
                check=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
            made[client.name] = env_dir / "bin"
        return made[client.name]

    return get


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("clients-index"), new_project_limit=0) as running:
        yield running


def write_project(directory: Path, client: Client, name: str) -> Path:
    module = name.replace("-", "_")
    project = directory / name
    package = project / ("src" if client.src_layout else "") / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A throwaway package."""\n')
    requires, backend = client.backend
    (project / "README.md").write_text(f"# {name}\n\nUploaded by *{client.name}*.\n")
    (project / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["{requires}"]\nbuild-backend = "{backend}"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1.0"\n'
        f'description = "Uploaded by {client.name}"\nreadme = "README.md"\n'
        'requires-python = ">=3.9"\nlicense = "MIT"\n'
    )
    (project / "LICENSE").write_text("MIT\n")
    return project


def client_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWINE_", "UV_", "HATCH_", "PDM_", "POETRY_", "FLIT_"))
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), COLUMNS="4000")
    env.update(NO_COLOR="1", PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    env.update(extra)
    return env


def _env(client: Client, home: Path, url: str, token: str) -> dict[str, str]:
    """Each client's own way to take the index and the token, all from the environment."""
    if client.name == "twine":
        return {**twine_env(token), "HOME": str(home)}
    credentials = {
        "uv": {"UV_PUBLISH_USERNAME": "__token__", "UV_PUBLISH_PASSWORD": token},
        "hatch": {"HATCH_INDEX_AUTH": token},
        "pdm": {"PDM_PUBLISH_USERNAME": "__token__", "PDM_PUBLISH_PASSWORD": token},
        "poetry": {
            "POETRY_REPOSITORIES_STANDIN_URL": url,
            "POETRY_HTTP_BASIC_STANDIN_USERNAME": "__token__",
            "POETRY_HTTP_BASIC_STANDIN_PASSWORD": token,
        },
        "flit": {"FLIT_INDEX_URL": url, "FLIT_USERNAME": "__token__", "FLIT_PASSWORD": token},
    }[client.name]
    return client_env(home, **credentials)


def build(client: Client, bin_dir: Path, project: Path, home: Path) -> None:
    """Build with the client's own front end and the project's backend (flit: at publish)."""
    argv = {
        "twine": [sys.executable, "-m", "build", "--outdir", "dist", "."],
        "uv": [str(bin_dir / "uv"), "build"],
        "hatch": [str(bin_dir / "hatch"), "build"],
        "pdm": [str(bin_dir / "pdm"), "build"],
        "poetry": [str(bin_dir / "poetry"), "build"],
    }.get(client.name)
    if argv is not None:
        built = run(argv, cwd=project, env=client_env(home), timeout=600)
        assert built.returncode == 0, built.output


def publish(client: Client, bin_dir: Path, project: Path, url: str, token: str, home: Path) -> Ran:
    exe = str(bin_dir / client.name)
    argv = {
        "twine": [
            exe,
            "--no-color",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            url,
            *sorted(str(p) for p in (project / "dist").glob("*")),
        ],
        "uv": [exe, "publish", "--publish-url", url],
        "hatch": [exe, "publish", "--repo", url, "--user", "__token__", "--no-prompt"],
        "pdm": [exe, "publish", "--no-build", "--repository", url],
        "poetry": [exe, "publish", "--repository", "standin", "--no-interaction"],
        "flit": [exe, "publish"],
    }[client.name]
    return run(argv, cwd=project, env=_env(client, home, url, token), timeout=600)


def shown(client: Client, ran: Ran, home: Path) -> str:
    """What the user gets to read: the output, and for pdm its debug log.

    pdm prints only httpx's "Client error '403 Forbidden'" and points at a log
    file holding the answer's body (pyramid's HTML page, reason in its title),
    for Test PyPI as here.
    """
    text = ran.output
    if client.name == "pdm":
        assert "Client error '403 Forbidden'" in text, text
        for log in sorted((home / ".local" / "state" / "pdm" / "log").glob("pdm-publish-*.log")):
            text += log.read_text(errors="replace")
            log.unlink()
    return text


@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_client_uploads_and_refusals(client, tools, server, tmp_path) -> None:
    bin_dir = tools(client)
    user = unique("user")
    token = server.mint(user)
    home = tmp_path / "home"
    home.mkdir()
    url = server.upload_url

    # A user-wide token: accepted; the project is created with the user as owner.
    name = unique(client.name)
    project = write_project(tmp_path, client, name)
    build(client, bin_dir, project, home)
    ran = publish(client, bin_dir, project, url, token, home)
    assert ran.returncode == 0, ran.output
    assert token not in ran.output
    with server.index() as index:
        projects = {p["normalized_name"]: p for p in index.listing()["projects"]}
    assert projects[name]["owners"] == [user]
    assert len(projects[name]["files"]) == 2, projects[name]  # sdist and wheel

    # A token restricted to that project, used for another one: refused as Test PyPI does.
    other = unique(client.name)
    second = write_project(tmp_path, client, other)
    build(client, bin_dir, second, home)
    scoped = server.mint(user, project=name)
    ran = publish(client, bin_dir, second, url, scoped, home)
    assert ran.returncode != 0
    printed = shown(client, ran, home)
    assert f"{SCOPE_REFUSAL}: '{other}'" in printed, printed
    assert scoped not in printed

    # An expired token (derived from the accepted one): refused with "token is expired".
    expired = tokentool.derive(
        tokentool.load(token), not_before=1_000_000, not_after=1_000_100, allow_unusable=True
    ).dump()
    ran = publish(client, bin_dir, second, url, expired, home)
    assert ran.returncode != 0
    printed = shown(client, ran, home)
    assert EXPIRED_REFUSAL in printed, printed
    assert expired not in printed
    if client.name == "uv":
        # uv asks for JSON and prints its "code": the status line as warehouse sets it.
        assert f"403 {EXPIRED_REFUSAL}" in printed, printed
