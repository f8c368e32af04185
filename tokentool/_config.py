"""Where the tasks get the token, the index and the project name from.

Precedence is options > real environment > ``.env``: a one-off ``INDEX_URL=...
invoke upload`` must beat the file, and a flag must beat both. The file is read
without interpolation because a token is opaque text; ``$`` in it must never be
expanded. Every failure is a ``ConfigError`` worded as one sentence that names
the variable, never its value.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

import tokentool
from tokentool.exceptions import ConfigError, TokenError
from tokentool.token import Token

__all__ = [
    "DEFAULT_INDEX_URL",
    "KEYS",
    "PRODUCTION_HOSTS",
    "TEST_HOSTS",
    "Config",
    "check_destination",
    "default_project",
    "load_config",
    "site_of",
]

DEFAULT_INDEX_URL = "https://test.pypi.org/legacy/"
#: Every variable the tasks read; documented in .env.example.
KEYS = ("TOKEN", "INDEX_URL", "PYPI_USERNAME")
#: Hosts that belong to each public site (upload URL and web front end).
PRODUCTION_HOSTS = frozenset({"pypi.org", "www.pypi.org", "upload.pypi.org"})
TEST_HOSTS = frozenset({"test.pypi.org", "upload.test.pypi.org"})


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved settings. ``repr`` shows the token only in redacted form (Token's own repr)."""

    token: Token
    index_url: str
    username: str | None
    source: str
    warnings: tuple[str, ...] = ()

    def project_or_default(self, project: str | None, today: datetime.date | None = None) -> str:
        """The project the user named, else the seed's ``test-<username>-<YYYY-MM-DD>``."""
        if project:
            tokentool.normalize_project(project)
            return project
        if not self.username:
            raise ConfigError(
                "no project name: pass --project=NAME or set PYPI_USERNAME in .env "
                "for the default test-<username>-<date>"
            )
        return default_project(self.username, today)


def default_project(username: str, today: datetime.date | None = None) -> str:
    day = (today or datetime.date.today()).isoformat()
    name = f"test-{username}-{day}"
    try:
        tokentool.normalize_project(name)
    except TokenError:
        raise ConfigError(
            f"PYPI_USERNAME {username!r} does not make a valid project name ({name!r})"
        ) from None
    return name


def _read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    warnings: list[str] = []
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}, warnings
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"cannot read {path}: it is not a regular file")
    if info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(
            f"warning: {path} is readable by other users and holds a live token; "
            f"run: chmod 600 {path}"
        )
    try:
        with path.open(encoding="utf-8") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {path}: it is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    return {k: v for k, v in values.items() if k in KEYS and v is not None}, warnings


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"INDEX_URL must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        # The token goes in the Authorization header; credentials in the URL would be logged.
        raise ConfigError("INDEX_URL must not contain credentials: the token is sent separately")
    return url if url.endswith("/") else url + "/"


def load_config(
    env_file: Path | None = Path(".env"),
    environ: Mapping[str, str] | None = None,
    *,
    index_url: str | None = None,
    username: str | None = None,
) -> Config:
    """Resolve the settings: options (keyword arguments) > ``environ`` > ``env_file``."""
    environ = os.environ if environ is None else environ
    values, warnings = _read_env_file(env_file) if env_file is not None else ({}, [])
    source = {k: str(env_file) for k in values}
    for key in KEYS:
        if environ.get(key):
            values[key] = environ[key]
            source[key] = "the environment"
    raw = values.get("TOKEN", "").strip()
    where = source.get("TOKEN", f"{env_file} or the environment")
    if not raw:
        raise ConfigError(
            f"TOKEN is not set: put your user-wide token in {env_file or '.env'} "
            "(see .env.example) or in the environment"
        )
    try:
        token = tokentool.load(raw)
    except TokenError as exc:
        raise ConfigError(f"TOKEN from {where} is not usable: {exc}") from None
    url = _check_url(index_url or values.get("INDEX_URL") or DEFAULT_INDEX_URL)
    user = username or values.get("PYPI_USERNAME") or None
    return Config(token, url, user, where, tuple(warnings))


def site_of(url: str) -> str:
    """``pypi.org``, ``test.pypi.org`` or ``other``, comparable with ``Token.issuer``."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host in PRODUCTION_HOSTS:
        return "pypi.org"
    if host in TEST_HOSTS:
        return "test.pypi.org"
    return "other"


def check_destination(token: Token, index_url: str, *, allow_production: bool = False) -> None:
    """Refuse uploads that can only fail (wrong issuer) or that a test run must not do.

    A token only authenticates on the site whose database holds its root key,
    so a pypi.org token sent to test.pypi.org can only come back 403 — after
    having been sent to the wrong site.
    """
    site = site_of(index_url)
    issuer = token.issuer
    if issuer != "other" and site != issuer:
        where = site if site != "other" else urlsplit(index_url).hostname
        raise ConfigError(
            f"the token was issued by {issuer} but INDEX_URL points at {where} ({index_url}): "
            f"a {issuer} token only works on {issuer}"
        )
    if issuer == "other" and site != "other":
        raise ConfigError(
            f"the token was issued by {token.domain or 'an unknown site'}, not by {site}, "
            f"but INDEX_URL points at {site} ({index_url}): {site} would refuse it"
        )
    if site == "pypi.org" and not allow_production:
        raise ConfigError(
            f"refusing to upload a throwaway test project to production pypi.org ({index_url}); "
            "pass --allow-production if you really mean it"
        )
