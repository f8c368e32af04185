"""The tests' shared helpers, one module: distributions, real clients, servers, terminals.

Fixtures live in conftest.py and build on these; test modules import what
they need from here (``from helpers import ...``), not from conftest.py.

- distributions written directly with zipfile/tarfile (a millisecond, where
  ``build`` takes seconds): ``write_wheel``, ``write_sdist``, ``write_dists``;
- real programs: ``twine_upload``, ``invoke`` (a project whose tasks.py is one
  line), ``run`` (any argv, no stdin), ``Terminal`` (a child on a pty);
- the upload form and its credentials: ``upload_fields``, ``basic``; over
  HTTP, ``post_file``, and the PEP 691 page it lands on, ``simple_json``;
- distributions named as an attacker likes: ``archive``;
- indexes: ``Harness`` (the stand-in's WSGI app in-process, no sockets, or
  ``served`` under waitress in this process so hooks can reach it),
  ``PypiServer`` (bare pypiserver, any token), ``LenientIndex`` (forgets
  caveats), ``listing`` (what a stand-in's data folder records);
- secrets: ``mint_raw``, ``assert_no_token``, ``TOKEN_LIKE``;
- the web face in-process, a cookie jar and the forms' CSRF token: ``WebClient``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import email.parser
import hashlib
import http.server
import io
import json
import os
import pty
import re
import secrets
import select
import socket
import subprocess
import sys
import tarfile
import threading
import time
import tracemalloc
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from packaging.utils import canonicalize_name
from pgcluster import Cluster
from urllib3 import encode_multipart_formdata

import tokentool
from tokentool.index import DATABASE_ENV, Index, RunningServer
from tokentool.index._app import IndexApp
from tokentool.index._db import Database
from tokentool.index._schema import file_chunks
from tokentool.index.rules import Site

BIN = Path(sys.executable).parent
TWINE = BIN / "twine"
PIP = BIN / "pip"

#: Debian's Chromium, which .ci/run installs: playwright's own browser download is not used.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: Size limit of the shared test server: small, so the too-large row needs no 100 MiB file.
TEST_UPLOAD_LIMIT = 1024 * 1024


def unique(prefix: str = "p") -> str:
    """A project or user name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclasses.dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path

    @property
    def both(self) -> list[Path]:
        return [self.sdist, self.wheel]


def _metadata(name: str, version: str, metadata_version: str) -> str:
    return (
        f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n"
        "Summary: A throwaway distribution for the stand-in index tests.\n"
    )


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    filename_version: str | None = None,
    payload: bytes = b"",
    metadata_version: str = "2.1",
    marker: str = "",
) -> Path:
    """A pure-Python wheel importable as ``<name with underscores>``.

    ``filename_version`` lets a test disagree with the metadata (a row of the
    reference table); ``marker`` makes otherwise identical builds differ.
    """
    module = canonicalize_name(name).replace("-", "_")
    dist_info = f"{module}-{filename_version or version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\nMARKER = {marker!r}\n".encode(),
        f"{dist_info}/METADATA": _metadata(name, version, metadata_version).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tokentool-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    if payload:
        files[f"{module}/blob.bin"] = payload
    record = [_record_line(p, d) for p, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{module}-{filename_version or version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            compress = zipfile.ZIP_STORED if member.endswith(".bin") else zipfile.ZIP_DEFLATED
            zf.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data, compress)
    return path


def write_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    metadata_version: str = "2.1",
    marker: str = "",
) -> Path:
    module = canonicalize_name(name).replace("-", "_")
    top = f"{module}-{version}"
    files = {
        f"{top}/PKG-INFO": _metadata(name, version, metadata_version).encode(),
        f"{top}/{module}/__init__.py": f"VERSION = {version!r}\nMARKER = {marker!r}\n".encode(),
    }
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return path


def write_dists(directory: Path, name: str, version: str = "1.0", **kwargs: str) -> Dists:
    directory.mkdir(parents=True, exist_ok=True)
    return Dists(
        wheel=write_wheel(directory, name, version, **kwargs),
        sdist=write_sdist(directory, name, version, **kwargs),
    )


@dataclasses.dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def http_error(self) -> tuple[str, str]:
        """(``"403 Forbidden"``, reason phrase) from twine's ``HTTPError`` report."""
        lines = [line.strip() for line in self.output.splitlines()]
        for number, line in enumerate(lines):
            if "HTTPError: " in line:
                status = line.partition("HTTPError: ")[2].partition(" from ")[0]
                return status, " ".join(x for x in lines[number + 1 :] if x)
        raise AssertionError(f"twine reported no HTTP error:\n{self.output}")


def twine_env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    env.update(TWINE_USERNAME="__token__", TWINE_PASSWORD=token, TWINE_NON_INTERACTIVE="1")
    env["COLUMNS"] = "4000"  # rich would otherwise wrap the reason phrase
    return env


def twine_upload(url: str, token: str, *files: Path, username: str | None = None) -> Ran:
    """The real twine CLI; the token travels in the environment, never in argv."""
    env = twine_env(token)
    if username is not None:
        env["TWINE_USERNAME"] = username
    argv = [str(TWINE), "--no-color", "upload", "--non-interactive", "--disable-progress-bar"]
    argv += ["--repository-url", url, *map(str, files)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str], timeout: int) -> Ran:
    """A real program, output captured; stdin closed: never the hidden prompt of a terminal."""
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


class Terminal:
    """A child whose stdin, stdout, stderr and controlling terminal are a pty: what a user sees."""

    def __init__(
        self, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.screen = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            if cwd is not None:
                os.chdir(cwd)
            if env is None:
                os.execv(argv[0], argv)
            os.execve(argv[0], argv, env)

    def read_until(self, marker: bytes, timeout: float) -> None:
        """Add to ``screen`` until ``marker`` shows, the child closes the pty, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while marker not in self.screen and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.screen += os.read(self.fd, 4096)
                except OSError:
                    break

    def type_line(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\n")

    def wait(self) -> int:
        """The child's exit code, once it ended; the pty is closed."""
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def basic(token: str) -> str:
    """The ``Authorization`` header twine sends: Basic ``__token__:<token>``."""
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()


def listing(where: Path | RunningServer | Harness) -> dict:
    """``Index.listing()`` of a stand-in (or a SQLite data folder): users, projects, tokens."""
    with Index(where) if isinstance(where, Path) else where.index() as index:
        return index.listing()


def stored_names(server: RunningServer | Harness) -> list[str]:
    """The names in the stand-in's package storage (folder or database), sorted."""
    if getattr(server, "files_in_database", False):
        with server.index() as index:
            with index._db.read_connection() as conn:
                rows = conn.execute(sa.select(file_chunks.c.filename).distinct()).all()
        return sorted(r[0] for r in rows)
    return sorted(os.listdir(server.data_dir / "packages"))


def stored_bytes(server: RunningServer | Harness, filename: str) -> bytes:
    """A stored file's content, as the storage holds it (not as served)."""
    if getattr(server, "files_in_database", False):
        with server.index() as index:
            opened = index._db.storage.open(filename, None)
            assert opened is not None, filename
            stream = opened[0]
            try:
                return b"".join(iter(lambda: stream.read(1 << 20), b""))
            finally:
                stream.close()
    return (server.data_dir / "packages" / filename).read_bytes()


def cli_state(server: RunningServer) -> tuple[list[str], dict[str, str]]:
    """The CLI options naming a running stand-in's state, and the environment they need
    (PostgreSQL: ``--database env:NAME``, the URL kept out of argv)."""
    env = dict(os.environ)
    if server.database is None:
        return ["--data-dir", str(server.data_dir)], env
    env[DATABASE_ENV] = server.database
    return ["--database", f"env:{DATABASE_ENV}"], env


def spool_leftovers(server: RunningServer | Harness) -> list[str]:
    """Partial uploads left in the stand-in's spool (its own live lock file is not one)."""
    with server.index() as index:
        directory = index._db.storage.spool.directory
    return sorted(n for n in os.listdir(directory) if n.endswith((".part", ".part.metadata")))


@contextlib.contextmanager
def stray_file(server: RunningServer | Harness, filename: str, data: bytes) -> Iterator[None]:
    """Content put into storage by hand, with no row (as a crash before commit leaves it)."""
    with server.index() as index:
        if getattr(server, "files_in_database", False):
            chunk = {"filename": filename, "seq": 0, "data": data}
            with index._db.engine.begin() as conn:
                conn.execute(sa.insert(file_chunks).values(**chunk))
            try:
                yield
            finally:
                with index._db.engine.begin() as conn:
                    conn.execute(sa.delete(file_chunks).where(file_chunks.c.filename == filename))
        else:
            path = server.data_dir / "packages" / filename
            path.write_bytes(data)
            try:
                yield
            finally:
                path.unlink()


@dataclasses.dataclass(frozen=True)
class Backend:
    """A database backend for the stand-in: SQLite in a data folder, or PostgreSQL."""

    name: str
    cluster: Cluster | None

    def new_database(self) -> str | None:
        """A fresh, empty database's URL (None: SQLite, in whatever folder is given)."""
        return None if self.cluster is None else self.cluster.new_database()

    def server_options(self) -> dict[str, Any]:
        """``start_server`` keywords: on PostgreSQL the package files live there too."""
        if self.cluster is None:
            return {}
        return {"database": self.new_database(), "files_in_database": True}

    def index(self, data_dir: Path, **kwargs: Any) -> Index:
        return Index(data_dir, database=self.new_database(), **kwargs)


ROOT = Path(__file__).resolve().parent.parent
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


def git_env(home: Path) -> dict[str, str]:
    """git and pre-commit in a throwaway HOME: no global config, hooks, store or token."""
    env = {
        k: v
        for k, v in clean_environ().items()
        if not k.startswith(("GIT_", "PRE_COMMIT", "TWINE_", "TOKEN"))
    }
    env.update(
        HOME=str(home),
        PRE_COMMIT_HOME=str(home / "pre-commit-cache"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 120) -> Ran:
    """Run the real ``invoke`` program from ``cwd``, in a project whose tasks.py is one line.

    ``cwd`` (or a folder above it) holds the project's ``tasks.py``; one is
    written in ``cwd`` if none is there. ``HOME`` is ``cwd`` unless ``env``
    says otherwise, so no real ``~/.pypirc`` is read.
    """
    if not any((folder / "tasks.py").is_file() for folder in (cwd, *cwd.parents)):
        (cwd / "tasks.py").write_text(TASKS_LINE, encoding="utf-8")
    env = clean_environ(HOME=str(cwd)) if env is None else env
    return run([str(INVOKE), *args], cwd=cwd, env=env, timeout=timeout)


class Closing:
    """``with X(...) as x:`` for the test servers and harnesses: ``close()`` on the way out."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


class PypiServer(Closing):
    """Bare pypiserver with authentication off: an index that accepts any token."""

    def __init__(self, packages: Path) -> None:
        self.packages = packages
        self.port = closed_port()
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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simple_listing(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


class LenientIndex(Closing):
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


SITE = "http://testserver"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclasses.dataclass
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class Harness(Closing):
    """The stand-in's WSGI app over ``data_dir``: ``post`` in-process, or ``served`` on a port."""

    def __init__(self, data_dir: Path | None, database: str | None = None, **settings: Any) -> None:
        """``data_dir`` None (with ``database``): the package files in PostgreSQL too."""
        self.data_dir = data_dir
        self.database = database
        self.files_in_database = data_dir is None
        self.site = Site(url=SITE, **settings)
        self.db = Database(data_dir, database)
        self.app = IndexApp(self.db, self.site)

    @property
    def url(self) -> str:
        return self.site.url + "/"

    @property
    def upload_url(self) -> str:
        return self.site.url + "/legacy/"

    @property
    def simple_url(self) -> str:
        return self.site.url + "/simple/"

    @contextlib.contextmanager
    def served(self) -> Iterator[Harness]:
        """The same app under waitress on a free loopback port, in this process: hooks reach it."""

        import waitress

        server = waitress.create_server(self.app, host="127.0.0.1", port=0, threads=4)
        self.site.url = f"http://127.0.0.1:{server.effective_port}"

        def loop() -> None:
            try:
                server.run()
            except OSError:  # the teardown closed the sockets under the loop
                pass

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.task_dispatcher.shutdown()
            server.close()
            thread.join(10)

    def index(self) -> Index:
        return Index(self.data_dir, database=self.database)

    def mint(self, user: str, project: str | None = None, description: str | None = None) -> str:
        with self.index() as index:
            return index.mint(user, project, description)

    def post(
        self,
        fields: list[tuple[str, str]] | dict[str, str],
        file: tuple[str, bytes, str] | None,
        token: str | None,
        *,
        accept: str | None = None,
        path: str = "/legacy/",
        edit: Any = None,
    ) -> Answer:
        """``edit``: bytes -> bytes, applied to the encoded body (what urllib3 cannot send)."""
        items: list[tuple[str, Any]] = list(fields.items() if isinstance(fields, dict) else fields)
        if file is not None:
            items.append(("content", file))
        body, content_type = encode_multipart_formdata(items)
        if edit is not None:
            body = edit(body)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
        }
        if token is not None:
            environ["HTTP_AUTHORIZATION"] = basic(token)
        if accept is not None:
            environ["HTTP_ACCEPT"] = accept
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = status, dict(headers)

        out = b"".join(self.app(environ, start_response))
        code, _, reason = seen["status"].partition(" ")
        return Answer(int(code), reason, seen["headers"], out)

    def close(self) -> None:
        self.db.close()


def upload_fields(
    name: str,
    version: str,
    data: bytes,
    filetype: str = "bdist_wheel",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.4",
        "name": name,
        "version": version,
        "filetype": filetype,
        "pyversion": "py3" if filetype == "bdist_wheel" else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    fields.update(extra or {})
    return {k: v for k, v in fields.items() if v is not None}


def post_file(
    server: RunningServer | Harness,
    token: str,
    path: Path,
    name: str,
    version: str,
    filetype: str,
    upload_name: str | None = None,
    **extra: str,
) -> requests.Response:
    """Upload ``path`` over HTTP as twine would (metadata 2.1), named ``upload_name`` if given."""
    data = path.read_bytes()
    fields = upload_fields(name, version, data, filetype, {"metadata_version": "2.1", **extra})
    return requests.post(
        server.upload_url,
        data=fields,
        files={"content": (upload_name or path.name, data, "application/octet-stream")},
        headers={"Authorization": basic(token)},
        timeout=60,
    )


def archive(path: Path, top: str, name: str, version: str, marker: str) -> Path:
    """An sdist under any filename (``.zip`` or ``.tar.gz``) whose code says ``marker``."""
    module = name.lower().replace("-", "_").replace(".", "_")
    files = {
        f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{top}/{module}/__init__.py": f"MARKER = {marker!r}\n".encode(),
    }
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in files.items():
                zf.writestr(member, data)
    else:
        with tarfile.open(path, "w:gz") as tf:
            for member, data in files.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def simple_json(server: RunningServer | Harness, project: str) -> dict:
    """A project's PEP 691 page, checked to be served as JSON."""
    response = requests.get(
        f"{server.simple_url}{project}/", headers={"Accept": JSON_V1}, timeout=10
    )
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"] == JSON_V1
    return response.json()


#: The build backends ``build_project`` writes a project for (both installed by [test]).
BACKENDS = {
    "hatchling": (
        "hatchling.build",
        "[tool.hatch.build.targets.wheel]\npackages = ['src/{module}']\n",
    ),
    "setuptools": ("setuptools.build_meta", "[tool.setuptools.packages.find]\nwhere = ['src']\n"),
}


def build_project(directory: Path, backend: str, name: str, version: str = "1.0") -> list[Path]:
    """A real project built by a real backend, offline (``python -m build --no-isolation``).

    The files are named as the backend names them (normalized), while their
    metadata keeps ``name`` as written: the case ``upload --dist`` must read.
    """
    module = re.sub(r"[^a-z0-9]+", "_", name.lower())
    target, extra = BACKENDS[backend]
    source = directory / f"{module}-{backend}-src"
    (source / "src" / module).mkdir(parents=True)
    (source / "src" / module / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    (source / "pyproject.toml").write_text(
        f"[build-system]\nrequires = ['{backend}']\nbuild-backend = '{target}'\n\n"
        f"[project]\nname = '{name}'\nversion = '{version}'\n"
        "description = 'a project built by tokentool tests'\n\n" + extra.format(module=module),
        encoding="utf-8",
    )
    out = directory / "dist"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    ran = run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.output
    return sorted(p for p in out.iterdir() if p.name.startswith(f"{module}-{version}"))


# --- The scanner's test tokens and the pre-commit consumer (tests/scan/, tests/e2e/) ---

TOKENTOOL = str(Path(sys.executable).with_name("tokentool"))
PRE_COMMIT = str(Path(sys.executable).with_name("pre-commit"))

#: Issuers: the two public sites, a private index, the local stand-in, and a
#: token with a one-character identifier (no well-known pattern knows either).
ISSUERS = {
    "pypi.org": ("pypi.org", None),
    "test.pypi.org": ("test.pypi.org", None),
    "private": ("pypi.example.com", None),
    "localhost": ("localhost", None),
    "short-id": ("localhost", "7"),
}


def std_b64(token: str) -> str:
    """The token in the standard base64 alphabet, padded."""
    body = token.removeprefix("pypi-")
    return base64.b64encode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))).decode()


def mint(issuer: str = "localhost", *, project: bool = False) -> str:
    """A fresh token whose standard-alphabet form has ``+`` and ``/``.

    So the URL-encoded shape below really contains ``%2B`` and ``%2F``
    whatever the random key made of the signature. A project token also gets
    ``=`` padding (the project name's length sets the body's length modulo 3;
    a user token's length is fixed by its issuer).
    """
    domain, identifier = ISSUERS[issuer]
    for attempt in range(1000):
        extra = (
            {"project_name": "sample" + "x" * (attempt % 3), "project_id": str(uuid.uuid4())}
            if project
            else {"user_id": str(uuid.uuid4())}
        )
        token = tokentool.mint(
            domain=domain,
            identifier=identifier or str(uuid.uuid4()),
            key=secrets.token_bytes(32),
            **extra,
        )
        std = std_b64(token)
        if "+" in std and "/" in std and (std.endswith("=") or not project):
            return token
    raise AssertionError("no token of the wanted shape in 1000 attempts")


@dataclasses.dataclass(frozen=True)
class Shape:
    """How a token sits in a file: ``render(token)`` and the 1-based line it lands on."""

    name: str
    filename: str
    render: Callable[[str], str]
    line: int


def _urlsafe_padded(t: str) -> str:
    return t + "=" * (-(len(t) - 5) % 4)


SHAPES = [
    Shape("dotenv", "app.env", lambda t: f"# deploy\nTWINE_PASSWORD={t}\n", 2),
    Shape("quoted", "settings.py", lambda t: f'USER = "__token__"\nPASSWORD = "{t}"\n', 2),
    Shape("json", "auth.json", lambda t: json.dumps({"pypi": {"password": t}}, indent=2), 3),
    Shape("yaml", "ci.yml", lambda t: f"env:\n  TWINE_PASSWORD: '{t}'\n", 2),
    Shape(
        "toml", "pypirc.toml", lambda t: f'[pypi]\nusername = "__token__"\npassword = "{t}"\n', 3
    ),
    Shape(
        "url",
        "requirements.txt",
        lambda t: f"-i https://__token__:{t}@pypi.example.com/simple/\n",
        1,
    ),
    Shape(
        "url-encoded",
        "pip.conf",
        lambda t: (
            "[global]\nindex-url = https://__token__:"
            + urllib.parse.quote("pypi-" + std_b64(t), safe="")
            + "@host/simple/\n"
        ),
        2,
    ),
    Shape("std-padded", "notes.md", lambda t: f"token: `pypi-{std_b64(t)}`\n", 1),
    Shape("std-unpadded", "notes.txt", lambda t: f"pypi-{std_b64(t).rstrip('=')}\n", 1),
    Shape("urlsafe-padded", "secret.cfg", lambda t: f"x = {_urlsafe_padded(t)}\n", 1),
]


def assert_no_token(text: str, *tokens: str) -> None:
    """No token in any spelling (as given, prefix-less, standard base64), no 16-character
    piece of its secret part, no tail, and nothing token-shaped."""
    for token in tokens:
        assert token not in text, "a token was printed"
        assert token[-30:] not in text, "a token's tail was printed"
        for spelling in (token.removeprefix("pypi-"), std_b64(token).rstrip("=")):
            body = spelling[20:]  # past the location: the identifier and signature
            pieces = {body[i : i + 16] for i in range(0, len(body) - 16, 8)}
            leaked = [p for p in pieces if p in text]
            assert not leaked, "a piece of a token was printed"
    assert not TOKEN_LIKE.search(text), "something token-shaped was printed"


def run_scan(
    *args: str, cwd: Path | None = None, hook: bool = False
) -> subprocess.CompletedProcess[str]:
    """``tokentool scan``; ``hook``: as pre-commit runs it (PRE_COMMIT=1)."""
    env = {k: v for k, v in os.environ.items() if k != "PRE_COMMIT"}
    if hook:
        env["PRE_COMMIT"] = "1"
    return subprocess.run(
        [TOKENTOOL, "scan", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=check,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def commit_through_hook(
    repo: Path, env: dict[str, str], files: dict[str, str | None], *, expect: int
) -> subprocess.CompletedProcess[str]:
    """Write ``files`` (``None``: leave as is), stage them, commit through the hook."""
    for name, text in files.items():
        if text is not None:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
    subprocess.run(["git", "add", "-f", *files], cwd=repo, env=env, check=True)
    result = subprocess.run(
        ["git", "commit", "-m", "change"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert result.returncode == expect, result.stdout + result.stderr
    if expect != 0:
        # Leave the index as it was: the refused files are not staged any more.
        subprocess.run(["git", "reset", "-q"], cwd=repo, env=env, check=True)
        for name in files:
            (repo / name).unlink()
    return result


class WebClient:
    """A person at the stand-in's web pages, in-process (webob): cookies kept, CSRF filled in.

    ``post`` sends the CSRF token of the last page seen unless ``csrf`` says otherwise.
    """

    _CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

    def __init__(self, app: Any, remote_addr: str = "192.0.2.1") -> None:
        self.app = app
        self.remote_addr = remote_addr
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    def _send(self, request: Any) -> Any:
        request.remote_addr = self.remote_addr
        if self.cookies:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = request.get_response(self.app)
        for header in response.headers.getall("Set-Cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in header or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        found = self._CSRF.search(response.text) if response.content_type == "text/html" else None
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, path: str, **headers: str) -> Any:
        from webob import Request

        return self._send(Request.blank(path, headers=headers))

    def post(self, path: str, data: dict[str, str], *, csrf: str | bool = True) -> Any:
        from webob import Request

        fields = dict(data)
        if csrf is True:
            fields["csrf_token"] = self.csrf or ""
        elif isinstance(csrf, str):
            fields["csrf_token"] = csrf
        return self._send(Request.blank(path, POST=fields))

    def login(self, username: str, password: str) -> Any:
        self.get("/account/login/")
        return self.post("/account/login/", {"username": username, "password": password})


class Listener(Closing):
    """A loopback HTTP server that records every request and answers 404.

    The proof that nothing was sent: a refused destination leaves ``requests``
    empty; an allowed one shows what arrived (method, path, Authorization).
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                if length:
                    self.rfile.read(length)
                auth = self.headers.get("Authorization", "")
                listener.requests.append((self.command, self.path, auth))
                self.send_response(404, "Not Found")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def traced_memory() -> Iterator[Callable[[], int]]:
    """tracemalloc on for the block; the function it gives is the peak so far (bytes)."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
