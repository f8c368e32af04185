"""``invoke demo`` / ``make demo``: the whole flow on a fresh machine, in seconds.

Everything is throwaway (a stand-in on a free loopback port, a temporary data
folder, a token minted as the account page would), yet the upload and the two
refusals run through the same ``load_config`` + ``upload``/``verify_rejection``
code that a user's ``.env`` drives: the demo writes its own ``.env`` in its
temporary folder and ignores the user's file, environment and stores entirely.
Each step is a plain function; ``run`` strings them together, and passes only
if every step passed, the last one installing what was uploaded with pip.
Children (the stand-in, pip, the fresh interpreter) get only the environment
they need, never a token.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from tokentool._errors import describe
from tokentool._safety import child_environ
from tokentool.workflow._build import SAMPLE_MODULE
from tokentool.workflow._config import Config, load_config
from tokentool.workflow._flow import upload, verify_rejection

if TYPE_CHECKING:
    from tokentool.index import RunningServer

__all__ = [
    "DEMO_USER",
    "Step",
    "mint_config",
    "pip_install",
    "run",
    "start_standin",
    "upload_step",
    "verify_step",
]

DEMO_USER = "demo"
T = TypeVar("T")


@dataclasses.dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str


class _Steps:
    """Runs steps in order, records pass/fail and time; a failed step fails the demo."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.steps: list[Step] = []

    def run(self, name: str, action: Callable[[], tuple[bool, str, T]]) -> T | None:
        started = time.perf_counter()
        try:
            ok, detail, value = action()
        except Exception as exc:  # the shared failure path words it; never a traceback
            ok, detail, value = False, f"error: {describe(exc)[0]}", None
        self.steps.append(Step(name, ok, time.perf_counter() - started, detail))
        self.out.write(f"[{'PASS' if ok else 'FAIL'}] {name}\n")
        for line in detail.splitlines():
            self.out.write(f"       {line}\n")
        self.out.flush()
        return value if ok else None

    def summary(self) -> bool:
        width = max(len(s.name) for s in self.steps)
        self.out.write("\nSummary:\n")
        for number, step in enumerate(self.steps, start=1):
            verdict = "pass" if step.ok else "FAIL"
            self.out.write(f"  {number}. {step.name:<{width}}  {verdict}  {step.seconds:6.2f}s\n")
        passed = all(s.ok for s in self.steps)
        total = sum(s.seconds for s in self.steps)
        self.out.write(
            f"{'All steps passed' if passed else 'Demo FAILED'} in {total:.2f}s "
            f"({sum(s.ok for s in self.steps)}/{len(self.steps)}).\n"
        )
        return passed


def _write_env(path: Path, values: dict[str, str]) -> None:
    """A private ``.env`` (0600 from the first byte, written atomically)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write("".join(f"{k}={v}\n" for k, v in values.items()))
    os.replace(tmp, path)


def start_standin(data: Path) -> RunningServer:
    """A stand-in on a free loopback port, its data in ``data``."""
    from tokentool.index import start_server

    return start_server(data, host="127.0.0.1", port=0)


def mint_config(server: RunningServer, root: Path) -> Config:
    """Mint a user-wide token and load it from a private ``.env`` the way a user's is loaded.

    Only that ``.env`` counts: not the user's environment, keyring or ``~/.pypirc``.
    """
    raw = server.mint(DEMO_USER, description="tokentool demo")
    env = root / ".env"
    _write_env(env, {"TOKEN": raw, "REPOSITORY_URL": server.upload_url, "PYPI_USERNAME": DEMO_USER})
    return load_config(env, {}, pypirc=None, keyring=False)


def upload_step(config: Config, project: str) -> tuple[bool, str, str]:
    lines: list[str] = []
    report = upload(config, project, progress=lines.append)
    return report.ok, "\n".join([*lines, report.message]), report.built.version


def verify_step(config: Config, project: str, case: str) -> tuple[bool, str, None]:
    lines: list[str] = []
    report = verify_rejection(config, project, case=case, progress=lines.append)
    return report.ok, "\n".join([*lines, report.message]), None


def _child(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """pip and the fresh interpreter: output captured, no credential in their environment."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, env=child_environ()
    )


def pip_install(simple_url: str, project: str, version: str, where: Path) -> tuple[bool, str]:
    """Install the upload into a fresh environment with pip, then import it there."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(where)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    install = _child(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--isolated",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-cache-dir",
            "--quiet",
            "--index-url",
            simple_url,
            f"{project}=={version}",
        ],
        timeout=120,
    )
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"pip install {project}=={version} failed: {last}"
    check = _child(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m, {SAMPLE_MODULE}; "
            f"print(m.version({project!r}), {SAMPLE_MODULE}.__name__)",
        ],
        timeout=60,
    )
    if check.returncode != 0 or check.stdout.split() != [version, SAMPLE_MODULE]:
        return False, f"import {SAMPLE_MODULE} failed after install: {check.stderr.strip()[-200:]}"
    return True, f"pip installed {project}=={version} from {simple_url}; import {SAMPLE_MODULE} ok"


def run(out: TextIO) -> bool:
    """Run the demo; ``True`` only if every step passed."""
    steps = _Steps(out)
    with tempfile.TemporaryDirectory(prefix="tokentool-demo-") as tmp:
        root = Path(tmp)

        def start() -> tuple[bool, str, RunningServer]:
            server = start_standin(root / "index")
            return True, f"stand-in listening on {server.url} (data in a temporary folder)", server

        server = steps.run("start the stand-in index", start)
        if server is None:
            return steps.summary()
        try:

            def mint() -> tuple[bool, str, Config]:
                config = mint_config(server, root)
                summary = "; ".join(config.token.explain()["summary"])
                return True, f"user-wide token for '{DEMO_USER}': {summary}", config

            config = steps.run("mint a user-wide token", mint)
            if config is None:
                return steps.summary()
            project = config.project_or_default(None)
            version = steps.run(
                f"upload {project} with a project-restricted token",
                lambda: upload_step(config, project),
            )
            for case, label in (
                ("project", "token for another project is refused"),
                ("expired", "expired token is refused"),
            ):
                steps.run(
                    f"verify-rejection --case={case}: {label}",
                    lambda case=case: verify_step(config, project, case),
                )
            if version is not None:

                def install() -> tuple[bool, str, None]:
                    ok, detail = pip_install(server.simple_url, project, version, root / "venv")
                    return ok, detail, None

                steps.run("pip install the upload and import it", install)
        finally:

            def stop() -> tuple[bool, str, None]:
                server.stop()
                return True, "stand-in stopped", None

            steps.run("stop the stand-in", stop)
    return steps.summary()
