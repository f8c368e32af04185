"""Shared helpers for the task/workflow tests: real servers, real invoke, token searches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import Ran

import tokentool

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INVOKE = BIN / "invoke"
#: Anything that looks like a whole token (the redacted form has 4 characters after "pypi-").
TOKEN_LIKE = re.compile(r"pypi-[A-Za-z0-9_-]{20,}")


def mint_raw(domain: str = "localhost", user_id: str | None = None) -> str:
    """A user-wide token signed with a key nobody keeps: fine for permissive indexes."""
    return tokentool.mint(
        domain=domain,
        identifier=str(uuid.uuid4()),
        key=os.urandom(32),
        user_id=user_id or str(uuid.uuid4()),
    )


def write_env(directory: Path, mode: int = 0o600, **values: str) -> Path:
    path = directory / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    path.chmod(mode)
    return path


#: What a user's own tasks.py holds (and this repository's).
TASKS_LINE = "from tokentool.tasks import *  # noqa: F403\n"
_READ = ("TOKEN", "INDEX_URL", "REPOSITORY_URL", "PYPI_USERNAME", "TWINE_PASSWORD", "CI")


def clean_environ(**extra: str) -> dict[str, str]:
    """The test process's environment without the variables the tasks read, and no keyring."""
    env = {k: v for k, v in os.environ.items() if k not in _READ}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env.update(extra)
    return env


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 120) -> Ran:
    """Run the real ``invoke`` program from ``cwd``, in a project whose tasks.py is one line.

    ``cwd`` (or a folder above it) holds the project's ``tasks.py``; one is
    written in ``cwd`` if none is there. ``HOME`` is ``cwd`` unless ``env``
    says otherwise, so no real ``~/.pypirc`` is read.
    """
    if not any((folder / "tasks.py").is_file() for folder in (cwd, *cwd.parents)):
        (cwd / "tasks.py").write_text(TASKS_LINE, encoding="utf-8")
    argv = [str(INVOKE), *args]
    proc = subprocess.run(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,  # never the hidden prompt of a developer's terminal
        env=clean_environ(HOME=str(cwd)) if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def assert_no_token(text: str, *secrets: str) -> None:
    """Neither a given token, nor its signature tail, nor anything token-shaped is in ``text``."""
    for secret in secrets:
        assert secret not in text
        assert secret[-30:] not in text
    assert not TOKEN_LIKE.search(text), TOKEN_LIKE.search(text)


class PypiServer:
    """Bare pypiserver with authentication off: an index that accepts any token."""

    def __init__(self, packages: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                str(BIN / "pypi-server"),
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-a",
                ".",
                "-P",
                ".",
                "--disable-fallback",
                str(packages),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        self._wait()

    def _wait(self) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pypiserver exited: {self.proc.stderr.read()}")
            try:
                urllib.request.urlopen(self.url + "simple/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pypiserver did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simple_listing(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")
