"""A local stand-in for Test PyPI's upload endpoint, for offline positive and negative uploads.

``Index`` manages the state (users, tokens, projects) in-process;
``start_server`` runs ``tokentool index serve`` as a real subprocess and hands
back its URLs. Importing this module stays light: waitress and webob are
imported only by the server process.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from tokentool._safety import child_environ
from tokentool.exceptions import TokenError

if TYPE_CHECKING:
    from tokentool.index._db import Tx

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_DOMAIN",
    "Index",
    "IndexRefusal",
    "RunningServer",
    "start_server",
]

from tokentool.index.settings import DEFAULT_DATA_DIR, DEFAULT_DOMAIN, ServeSettings

#: ``--database env:NAME`` reads the URL from that variable (a password stays out of argv).
DATABASE_ENV = "TOKENTOOL_INDEX_DATABASE"


class IndexRefusal(TokenError):
    """The stand-in refuses a management request (the site would too)."""


class Index:
    """The stand-in's state, for the CLI, the tasks and tests (server running or not)."""

    def __init__(
        self,
        data_dir: Path | str | None = DEFAULT_DATA_DIR,
        domain: str | None = None,
        database: str | None = None,
    ) -> None:
        """``database``: a postgresql:// URL (then ``data_dir`` None keeps package files
        in the database); None: SQLite in ``data_dir``."""
        from tokentool.index._db import Database

        self.data_dir = None if data_dir is None else Path(data_dir)
        self._db = Database(self.data_dir, database)
        stored = self._db.reader().get_meta("domain")
        self.domain = domain or stored or DEFAULT_DOMAIN

    def mint(
        self,
        user: str,
        project: str | None = None,
        description: str | None = None,
        *,
        unverified_email: bool = False,
        no_2fa: bool = False,
        stored_only: bool = False,
    ) -> str:
        """A new token as the account page issues it; creates ``user`` if needed.

        Project-scoped tokens are only issued for a project the user has a role
        on, like on the site. The caveats are stored with the token's row, as
        warehouse does, and judged again after the token's own. Each mint states
        the user's standing: ``unverified_email`` and ``no_2fa`` make uploads
        fail as on the site; without them the user has both. ``stored_only``
        rehearses pypi/warehouse#20371: the token carries no caveat at all, and
        the restrictions it was minted with live only in its row, judged there.
        """
        if not user or not user.strip() or user != user.strip():
            raise IndexRefusal("a user name must be given, without surrounding spaces")
        with self._db.transaction() as tx:
            user_id = tx.ensure_user(user)
            raw = mint_token(
                tx, self.domain, user_id, project, description, stored_only=stored_only
            )
            tx.set_standing(user_id, email_verified=not unverified_email, two_factor=not no_2fa)
        return raw

    def set_password(self, user: str, password: str) -> None:
        """The user's web password (argon2), creating the user if needed; sessions end."""
        from tokentool.index.web.accounts import hash_password

        if not user or not user.strip() or user != user.strip():
            raise IndexRefusal("a user name must be given, without surrounding spaces")
        hashed = hash_password(password)  # refuses what the login form would refuse
        with self._db.transaction() as tx:
            tx.set_password(tx.ensure_user(user), hashed)

    def revoke(self, identifier: str) -> None:
        """Delete a token: further uploads with it get the invalid-authentication 403."""
        try:
            normalized = str(uuid.UUID(identifier))
        except (ValueError, TypeError, AttributeError):
            raise IndexRefusal(f"not a token identifier: {identifier!r}") from None
        with self._db.transaction() as tx:
            if not tx.delete_token(normalized):
                raise IndexRefusal(f"no token with identifier {normalized}")

    def delete(
        self, project: str, version: str | None = None, filename: str | None = None
    ) -> list[str]:
        """Delete a project, a release or one file, as an owner can on the site.

        Returns the deleted file names. Like the site, a deleted file's name is
        never accepted again ("This filename was previously used by a file that
        has since been deleted"), even after the whole project is gone.
        """
        from packaging.utils import canonicalize_version
        from packaging.version import InvalidVersion, Version

        import tokentool

        try:
            normalized = tokentool.normalize_project(project)
        except TokenError:
            raise IndexRefusal(f"not a project name: {project!r}") from None
        canonical = None
        if version is not None:
            try:
                canonical = canonicalize_version(Version(version))
            except InvalidVersion:
                raise IndexRefusal(f"not a version: {version!r}") from None
        with self._db.transaction() as tx:
            row = tx.project(normalized)
            if row is None:
                raise IndexRefusal(f"no project {project!r}")
            names = tx.files_of(row.id, canonical, filename)
            # warehouse's journal actions for the same deletions (manage/views)
            if version is None:
                tx.delete_project(row.id)
                tx.journal(row.normalized_name, None, "remove project", None)
            elif not names:
                what = f"file {filename!r}" if filename else "release"
                raise IndexRefusal(f"no {what} of {row.name} {version}")
            elif filename is None and canonical is not None:
                tx.delete_release(row.id, canonical)
                tx.journal(row.normalized_name, version, "remove release", None)
            else:
                tx.delete_files(names)
                for name in names:
                    tx.journal(row.normalized_name, version, f"remove file {name}", None)
        self._db.storage.removed(names)
        return names

    def yank(self, project: str, version: str, reason: str = "", *, undo: bool = False) -> str:
        """Yank a release (or un-yank it), as an owner can on the site; its files stay.

        Returns the release's version as stored. Installers skip a yanked release
        unless pinned to it (PEP 592); the pages, ``/simple/`` and the JSON API say so.
        """
        from packaging.utils import canonicalize_version
        from packaging.version import InvalidVersion, Version

        import tokentool

        try:
            normalized = tokentool.normalize_project(project)
            canonical = canonicalize_version(Version(version))
        except (TokenError, InvalidVersion):
            raise IndexRefusal(f"no release {project!r} {version!r}") from None
        with self._db.transaction() as tx:
            row = tx.project(normalized)
            if row is None or not tx.set_yanked(row.id, canonical, not undo, reason):
                raise IndexRefusal(f"no release {project!r} {version!r}")
            stored = [r[0] for r in tx.releases(row.id) if r[1] == canonical]
        return stored[0]

    def listing(self) -> dict[str, Any]:
        """Users, projects (owners, files) and tokens (identifier, description); no secrets."""
        data = self._db.reader().listing()
        data["domain"] = self.domain
        return data

    def user_id(self, user: str) -> str | None:
        return self._db.reader().user_id(user)

    def project_id(self, project: str) -> str | None:
        import tokentool

        row = self._db.reader().project(tokentool.normalize_project(project))
        return None if row is None else row.id

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mint_token(
    tx: Tx,
    domain: str,
    user_id: str,
    project: str | None,
    description: str | None,
    *,
    stored_only: bool = False,
) -> str:
    """Mint and record one token: ``index mint`` and the web face's "Create token" alike.

    Project-scoped tokens are only issued for a project the user has a role on,
    like on the site (``CreateMacaroonForm.validate_token_scope``); user-wide
    ones carry ``[3, user]``, project ones ``[1, [name]]`` and ``[2, [id]]``
    (``ProvisionMacaroonViews.create_macaroon``). The caveats are stored with
    the token's row, as warehouse does, and judged again after the token's own.
    ``stored_only`` (pypi/warehouse#20371) embeds none of them: the row alone holds them.
    """
    import tokentool
    from tokentool.index._auth import minted_caveats

    identifier = str(uuid.uuid4())
    key = os.urandom(32)
    if project is None:
        scope = "user"
        raw = tokentool.mint(domain=domain, identifier=identifier, key=key, user_id=user_id)
    else:
        try:
            normalized = tokentool.normalize_project(project)
        except TokenError:
            normalized = None
        row = tx.project(normalized) if normalized else None
        if row is None or not tx.has_role(row.id, user_id):
            raise IndexRefusal(f"Unknown or invalid project name: {project}")
        scope = f"project:{row.normalized_name}"
        raw = tokentool.mint(
            domain=domain,
            identifier=identifier,
            key=key,
            project_name=row.normalized_name,
            project_id=row.id,
        )
    text = description if description is not None else f"tokentool {identifier[:8]}"
    if not text.strip():
        raise IndexRefusal("a token description must not be empty")
    if tx.description_taken(user_id, text):
        raise IndexRefusal("API token name already in use")
    tx.add_token(identifier, user_id, key, text, scope)
    tx.store_caveats(identifier, minted_caveats(raw))
    if stored_only:
        raw = tokentool.mint(domain=domain, identifier=identifier, key=key)
    return raw


@dataclasses.dataclass
class RunningServer:
    """A ``tokentool index serve`` subprocess and where to reach it."""

    url: str
    #: Where its log is, and its state (SQLite) or package files (unless in the database).
    data_dir: Path
    process: subprocess.Popen[str] = dataclasses.field(repr=False)
    log_path: Path
    #: The postgresql:// URL it serves from (None: SQLite in ``data_dir``).
    database: str | None = None
    #: With ``database``: package files in the database, not in ``data_dir/packages``.
    files_in_database: bool = False

    @property
    def upload_url(self) -> str:
        return self.url + "legacy/"

    @property
    def simple_url(self) -> str:
        return self.url + "simple/"

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rpartition(":")[2])

    def index(self) -> Index:
        folder = None if self.files_in_database else self.data_dir
        return Index(folder, database=self.database)

    def mint(
        self,
        user: str,
        project: str | None = None,
        description: str | None = None,
        **standing: bool,
    ) -> str:
        index = self.index()
        try:
            return index.mint(user, project, description, **standing)
        finally:
            index.close()

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM and wait; returns the exit code (0 for a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        return int(self.process.returncode)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_first_line(stream: IO[str], out: queue.Queue[str]) -> None:
    out.put(stream.readline())


def start_server(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    domain: str = DEFAULT_DOMAIN,
    *,
    timeout: float = 30,
    database: str | None = None,
    files_in_database: bool = False,
    **settings: Any,
) -> RunningServer:
    """Start the stand-in as a real process and wait until it accepts connections.

    ``settings`` are more ``ServeSettings`` fields (``max_upload_size``,
    ``new_project_limit``, ``threads``, ``prohibited_names``); the child's
    argv is derived from them. Its stderr goes to ``<data_dir>/server.log``
    (never a pipe nobody reads, which could block it). ``database``: serve from
    PostgreSQL; with ``files_in_database`` the package files are there too and
    ``data_dir`` holds only the log. The URL reaches the child through its
    environment, never argv (it may hold a password).
    """
    from tokentool.index._db import make_private_dirs

    data = Path(data_dir).resolve()
    make_private_dirs(data)  # an existing folder keeps its permissions
    environ = child_environ()  # no TOKEN / TWINE_PASSWORD for the stand-in
    if database:
        environ[DATABASE_ENV] = database
        settings["database"] = "env:" + DATABASE_ENV
    folder = None if database and files_in_database else data
    chosen = ServeSettings(data_dir=folder, host=host, port=port, domain=domain, **settings)
    argv = [sys.executable, "-m", "tokentool.index", "serve", *chosen.argv()]
    log_path = data / "server.log"
    with open(log_path, "a", encoding="utf-8") as log:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=environ,
        )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_first_line, args=(process.stdout, lines), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    prefix = "Serving on "
    if not line.startswith(prefix):
        process.kill()
        process.wait()
        detail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"the index server did not start: {line.strip()!r}\n{detail}")
    url = line[len(prefix) :].strip()
    return RunningServer(
        url, data, process, log_path, database, bool(database and files_in_database)
    )
