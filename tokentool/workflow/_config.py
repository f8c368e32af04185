"""Where the tasks and commands get the token, the repository URL and the project name.

Settings other than the token: options > real environment > the root's
``.env``: a one-off ``REPOSITORY_URL=... invoke upload`` must beat the file,
and a flag must beat both. The token has its own numbered precedence
(``_sources``), which starts with the same two and goes on to the stores
twine reads. The file is read without interpolation because a token is
opaque text; ``$`` in it must never be expanded. Every failure is a
``ConfigError`` worded as one sentence that names the variable or the store,
never its value.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from dotenv import dotenv_values

import tokentool
from tokentool._safety import escape
from tokentool.exceptions import ConfigError, TokenError
from tokentool.sites import DEFAULT_REPOSITORY_URL, check_destination, check_url, site_of
from tokentool.token import Token
from tokentool.workflow._sources import DEFAULT_PYPIRC, find_token

__all__ = [
    "DEFAULT_INDEX_URL",
    "KEYS",
    "Config",
    "check_destination",
    "check_url",
    "default_project",
    "load_config",
    "site_of",
]

DEFAULT_INDEX_URL = DEFAULT_REPOSITORY_URL
#: Every variable the tasks read; documented in .env.example. INDEX_URL is the
#: old name of REPOSITORY_URL (twine's name), still read.
KEYS = ("TOKEN", "REPOSITORY_URL", "INDEX_URL", "PYPI_USERNAME")


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved settings. ``repr`` shows the token only in redacted form (Token's own repr).

    ``source`` names where the token came from (``TOKEN in .env``, ``keyring
    (...)``, ...): every report prints it.
    """

    token: Token
    index_url: str
    username: str | None
    source: str
    warnings: tuple[str, ...] = ()

    @property
    def repository_url(self) -> str:
        return self.index_url

    @property
    def source_line(self) -> str:
        """The "token from:" line every face prints, escaped (a path may hold anything)."""
        return f"token from: {escape(self.source)}"

    def project_or_default(self, project: str | None, today: datetime.date | None = None) -> str:
        """The project the user named, else the seed's ``test-<username>-<YYYY-MM-DD>``."""
        if project:
            check_buildable_name(project)
            return project
        if not self.username:
            raise ConfigError(
                "no project name: pass --project=NAME or set PYPI_USERNAME in .env "
                "for the default test-<username>-<date>"
            )
        return default_project(self.username, today)


#: The longest file name most file systems take (ext4, APFS, NTFS): 255 bytes.
MAX_FILENAME_BYTES = 255
#: What follows the name in the longest file built for it (the wheel's PEP 658 copy).
_WHEEL_TAIL = "-py3-none-any.whl.metadata"
#: A version as long as the default one (``0.0.<microseconds>``) for a check before building.
_DEFAULT_VERSION = "0.0.1000000000000000"


def check_buildable_name(project: str, version: str = _DEFAULT_VERSION) -> str:
    """``project`` if the sample can be built and stored under it, else one clear sentence.

    Valid (PEP 508) first; then short enough that the wheel's name (and the
    ``.metadata`` file an index keeps beside it) fits in a file name: a longer
    one fails deep in the build backend with ``File name too long``.
    """
    stem = tokentool.normalize_project(project).replace("-", "_")  # as the wheel spells it
    longest = f"{stem}-{version}{_WHEEL_TAIL}"
    if len(longest.encode()) > MAX_FILENAME_BYTES:
        room = MAX_FILENAME_BYTES - len(f"-{version}{_WHEEL_TAIL}".encode())
        raise ConfigError(
            f"project name too long: {len(project)} characters; the wheel built for it "
            f"('{stem[:12]}…-{version}-py3-none-any.whl', and the .metadata file an index "
            f"keeps beside it) would pass the {MAX_FILENAME_BYTES}-byte limit of a file "
            f"name: use at most {room} characters"
        )
    return project


def default_project(username: str, today: datetime.date | None = None) -> str:
    day = (today or datetime.date.today()).isoformat()
    name = f"test-{username}-{day}"
    try:
        tokentool.normalize_project(name)
    except TokenError:
        raise ConfigError(
            f"PYPI_USERNAME {escape(repr(username))} does not make a valid project name "
            f"({escape(repr(name))})"
        ) from None
    return name


def _read_env_file(path: Path, shown: str) -> tuple[dict[str, str], list[str]]:
    warnings: list[str] = []
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}, warnings
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"cannot read {shown}: it is not a regular file")
    if info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(
            f"warning: {shown} is readable by other users and holds a live token; "
            f"run: chmod 600 {shown}"
        )
    try:
        with path.open(encoding="utf-8") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {shown}: it is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    except Exception as exc:
        # A parser's message may quote the line, and the line may be the token.
        raise ConfigError(f"cannot read {shown} ({type(exc).__name__})") from None
    return {k: v for k, v in values.items() if k in KEYS and v is not None}, warnings


def _relative(path: Path) -> str:
    """How a file is named in messages: relative to cwd when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_config(
    env_file: Path | None = Path(".env"),
    environ: Mapping[str, str] | None = None,
    *,
    index_url: str | None = None,
    username: str | None = None,
    pypirc: Path | None = DEFAULT_PYPIRC,
    keyring: bool = True,
    prompt: Callable[[], str] | None = None,
) -> Config:
    """Resolve the settings; the token by the precedence in ``_sources``."""
    environ = os.environ if environ is None else environ
    shown = _relative(env_file) if env_file is not None else ".env"
    values, warnings = _read_env_file(env_file, shown) if env_file is not None else ({}, [])
    settings = dict(values)
    for key in KEYS:
        if key != "TOKEN" and environ.get(key):
            settings[key] = environ[key]
    url = check_url(
        index_url
        or settings.get("REPOSITORY_URL")
        or settings.get("INDEX_URL")
        or DEFAULT_INDEX_URL
    ).url
    found = find_token(
        url,
        environ,
        values,
        shown,
        pypirc=pypirc,
        keyring=keyring,
        prompt=prompt,
        warnings=warnings,
    )
    if found is None:
        raise ConfigError(
            f"no token found: set TOKEN in {shown} (see .env.example) or in the environment, "
            f"or keep it where twine looks for {url} (keyring, ~/.pypirc, TWINE_PASSWORD)"
        )
    try:
        token = tokentool.load(found.raw)
    except TokenError as exc:
        raise ConfigError(f"the token from {found.source} is not usable: {exc}") from None
    user = username or settings.get("PYPI_USERNAME") or None
    return Config(token, url, user, found.source, tuple(warnings))
