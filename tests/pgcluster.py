"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

``initdb`` in a temporary folder, ``postgres`` listening on a Unix socket in
that folder only (no TCP at all), trust authentication for the cluster's own
user. Run as root (CI), the server runs as the ``postgres`` user, which
refuses to run as root. ``TOKENTOOL_TEST_DATABASE_URL`` names an existing
server instead (then each ``new_database`` is created there).

Failing to start is an error with the reason, never a skip: a test that
needs PostgreSQL must not pass without it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg

ENV_URL = "TOKENTOOL_TEST_DATABASE_URL"


class NoPostgres(RuntimeError):
    """PostgreSQL is needed and cannot be started: the reason, and how to fix it."""


def bindir() -> Path:
    """The newest installed server's programs (Debian: /usr/lib/postgresql/N/bin)."""
    found = shutil.which("pg_config")
    candidates = []
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (Path(v) for v in versions), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    raise NoPostgres(
        "PostgreSQL's server programs (initdb, postgres) are not installed: "
        "apt-get install postgresql (CI's .ci/run does), or set "
        f"{ENV_URL}=postgresql://... to use a running server"
    )


class Cluster:
    """A running throwaway cluster; ``new_database()`` gives each user a fresh database."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url(self, database: str) -> str:
        base, _, query = self.admin_url.partition("?")
        base = base.rsplit("/", 1)[0] + "/" + database
        return f"{base}?{query}" if query else base

    def new_database(self, prefix: str = "t", *, options: str = "") -> str:
        """Create an empty database; returns its ``postgresql://`` URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" {options}')
        return self.url(name)


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Start a cluster (or use ``TOKENTOOL_TEST_DATABASE_URL``) for the ``with`` block."""
    if os.environ.get(ENV_URL):
        yield Cluster(os.environ[ENV_URL])
        return
    programs = bindir()
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if as_root else pwd.getpwuid(os.geteuid())
    run_as = {"user": owner.pw_uid, "group": owner.pw_gid} if as_root else {}
    # As root the server runs as postgres: a folder it can reach (TMPDIR may be private).
    parent = "/tmp" if as_root and os.path.isdir("/tmp") else None
    folder = Path(tempfile.mkdtemp(prefix="tokentool-pg-", dir=parent))
    try:
        os.chmod(folder, 0o700)
        if as_root:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        log = folder / "server.log"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        initdb = subprocess.run(
            [
                str(programs / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            check=False,
            **run_as,  # type: ignore[arg-type]
        )
        if initdb.returncode != 0:
            raise NoPostgres(f"initdb failed: {initdb.stderr.strip()[-1000:]}")
        with open(log, "wb") as log_file:
            server = subprocess.Popen(
                [
                    str(programs / "postgres"),
                    "-D",
                    str(data),
                    "-k",
                    str(folder),  # the socket's folder
                    "-c",
                    "listen_addresses=",  # no TCP: the socket only
                    "-c",
                    "fsync=off",  # throwaway: durability against power loss is not tested
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=64MB",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=folder,
                **run_as,  # type: ignore[arg-type]
            )
        admin = f"postgresql://postgres@/postgres?host={quote(str(folder), safe='')}"
        try:
            _wait_until_ready(admin, server, log)
            yield Cluster(admin)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:]
                raise NoPostgres(f"the PostgreSQL server did not start:\n{text}") from None
            time.sleep(0.1)
