"""``invoke demo`` / ``make demo``: the whole flow on a fresh machine, in seconds.

Everything is throwaway (a stand-in on a free loopback port, a temporary data
folder, a token minted as the account page would), yet the upload and the two
refusals run through the same ``load_config`` + ``workflow`` code that a
user's ``.env`` drives: the demo writes its own ``.env`` in its temporary
folder and ignores the user's file and environment entirely. It passes only if
every step passed, and the last step installs what was uploaded with pip.
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
from typing import TextIO, TypeVar

from tokentool._build import SAMPLE_MODULE
from tokentool._config import KEYS, Config, load_config
from tokentool.exceptions import TokenError

__all__ = ["DEMO_USER", "Step", "run"]

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
        except TokenError as exc:
            ok, detail, value = False, f"error: {exc}", None
        except (OSError, subprocess.SubprocessError) as exc:
            ok, detail, value = False, f"error: {type(exc).__name__}: {exc}", None
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


def _pip_install(simple_url: str, project: str, version: str, where: Path) -> tuple[bool, str]:
    """Install the upload into a fresh environment with pip, then import it there."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(where)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    install = subprocess.run(
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
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"pip install {project}=={version} failed: {last}"
    check = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m, {SAMPLE_MODULE}; "
            f"print(m.version({project!r}), {SAMPLE_MODULE}.__name__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check.returncode != 0 or check.stdout.split() != [version, SAMPLE_MODULE]:
        return False, f"import {SAMPLE_MODULE} failed after install: {check.stderr.strip()[-200:]}"
    return True, f"pip installed {project}=={version} from {simple_url}; import {SAMPLE_MODULE} ok"


def run(out: TextIO) -> bool:
    """Run the demo; ``True`` only if every step passed."""
    from tokentool import workflow
    from tokentool.index import start_server

    steps = _Steps(out)
    with tempfile.TemporaryDirectory(prefix="tokentool-demo-") as tmp:
        root = Path(tmp)
        data = root / "index"

        def start() -> tuple[bool, str, object]:
            server = start_server(data, host="127.0.0.1", port=0)
            return True, f"stand-in listening on {server.url} (data in a temporary folder)", server

        server = steps.run("start the stand-in index", start)
        if server is None:
            return steps.summary()
        try:

            def mint() -> tuple[bool, str, Config]:
                raw = server.mint(DEMO_USER, description="tokentool demo")
                env = root / ".env"
                _write_env(
                    env,
                    {"TOKEN": raw, "INDEX_URL": server.upload_url, "PYPI_USERNAME": DEMO_USER},
                )
                # The user's own variables must not leak into the demo's configuration.
                clean = {k: v for k, v in os.environ.items() if k not in KEYS}
                config = load_config(env, clean)
                summary = "; ".join(config.token.explain()["summary"])
                return True, f"user-wide token for '{DEMO_USER}': {summary}", config

            config = steps.run("mint a user-wide token", mint)
            if config is None:
                return steps.summary()
            project = config.project_or_default(None)

            def upload() -> tuple[bool, str, str]:
                report = workflow.upload(config, project)
                return report.ok, "\n".join(workflow.format_upload(report)), report.built.version

            version = steps.run(f"upload {project} with a project-restricted token", upload)
            for case, label in (
                ("project", "token for another project is refused"),
                ("expired", "expired token is refused"),
            ):

                def verify(case: str = case) -> tuple[bool, str, None]:
                    report = workflow.verify_rejection(config, project, case=case)
                    return report.ok, "\n".join(workflow.format_verify(report)), None

                steps.run(f"verify-rejection --case={case}: {label}", verify)
            if version is not None:

                def install() -> tuple[bool, str, None]:
                    ok, detail = _pip_install(server.simple_url, project, version, root / "venv")
                    return ok, detail, None

                steps.run("pip install the upload and import it", install)
        finally:

            def stop() -> tuple[bool, str, None]:
                server.stop()
                return True, "stand-in stopped", None

            steps.run("stop the stand-in", stop)
    return steps.summary()
