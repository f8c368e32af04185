"""Shared helpers for the task/workflow tests: real servers, real invoke, token searches."""

from __future__ import annotations

import json
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
        self.packages = packages
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


class LenientIndex:
    """A real HTTP index that judges in warehouse's order but forgets the caveats.

    Identity first (an unknown token: ``403 Invalid or non-existent
    authentication information``), then the signature with every caveat taken
    as met (``403 Invalid API Token: signatures do not match``), then the
    file's digest (``400 The digest supplied does not match ...``); a file with
    the right digest is stored in ``packages``. It answers ``/pypi/NAME/json``
    for the names in ``projects``. So a probe calibrates, and a restricted
    token is wrongly accepted: the case the SECURITY line exists for.
    """

    def __init__(self, packages: Path, projects: set[str]) -> None:
        import http.server
        import threading

        self.packages = packages
        self.projects = projects
        self.key = os.urandom(32)
        self.identifier = str(uuid.uuid4())
        self.token = tokentool.mint(
            domain="127.0.0.1", identifier=self.identifier, key=self.key, user_id=str(uuid.uuid4())
        )
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
                    if parts[1] in index.projects:
                        body = json.dumps({"info": {"name": parts[1]}}).encode()
                        return self._answer(200, "OK", body)
                self._answer(404, "Not Found")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._answer(*index.judge(self.headers, body))

            def _answer(self, status: int, reason: str, body: bytes = b"") -> None:
                self.send_response(status, reason)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/legacy/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def judge(self, headers: object, body: bytes) -> tuple[int, str]:
        import base64
        import email.parser
        import hashlib

        import pymacaroons

        auth = headers.get("Authorization", "")  # type: ignore[attr-defined]
        password = ""
        if auth.startswith("Basic "):
            password = base64.b64decode(auth[6:]).decode().partition(":")[2]
        try:
            macaroon = pymacaroons.Macaroon.deserialize(password.removeprefix("pypi-"))
        except Exception:
            macaroon = None
        if macaroon is None or macaroon.identifier_bytes != self.identifier.encode():
            return 403, "Invalid or non-existent authentication information."
        verifier = pymacaroons.Verifier()
        verifier.satisfy_general(lambda _caveat: True)  # the bug: caveats forgotten
        try:
            verifier.verify(macaroon, self.key)
        except Exception:
            return 403, "Invalid API Token: signatures do not match"
        head = f"Content-Type: {headers.get('Content-Type')}\r\n\r\n".encode()  # type: ignore[attr-defined]
        message = email.parser.BytesParser().parsebytes(head + body)
        fields: dict[str, str] = {}
        content: tuple[str, bytes] | None = None
        for part in message.get_payload():  # type: ignore[union-attr]
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if name == "content":
                content = (part.get_filename() or "", data)
            else:
                fields[str(name)] = data.decode()
        if content is None:
            return 400, "Upload payload does not have a file."
        if hashlib.sha256(content[1]).hexdigest() != fields.get("sha256_digest"):
            return (
                400,
                "The digest supplied does not match a digest calculated from the uploaded file.",
            )
        (self.packages / Path(content[0]).name).write_bytes(content[1])
        return 200, "OK"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
