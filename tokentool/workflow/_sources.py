"""Where the user-wide token comes from: the places twine users already keep it.

Precedence, first found wins (README "Where the token comes from"):

1. ``TOKEN`` in the environment (a one-off ``TOKEN=... invoke upload``);
2. ``TOKEN`` in the project root's ``.env``;
3. keyring, under the service and username twine uses for that repository
   URL: the URL itself and ``__token__`` (only if ``keyring`` is importable);
4. ``~/.pypirc``: the ``password`` of the section whose ``repository`` is that
   URL (``pypi`` and ``testpypi`` have their usual URLs, as in twine);
5. ``TWINE_PASSWORD`` in the environment;
6. a hidden prompt, on a terminal only.

Nothing is ever written back. A store that fails is reported by name only: a
parser's error message quotes the offending line, and that line may be the
token.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from tokentool.exceptions import ConfigError

__all__ = ["DEFAULT_PYPIRC", "KEYRING_USERNAME", "SOURCES", "Found", "find_token"]

#: twine's default configuration file.
DEFAULT_PYPIRC = Path("~/.pypirc")
#: The username twine stores tokens under (``twine.auth``'s ``TOKEN_USERNAME``).
KEYRING_USERNAME = "__token__"
#: The sources in order of precedence, as ``invoke inspect`` and the README name them.
SOURCES = (
    "TOKEN in the environment",
    "TOKEN in .env",
    "keyring",
    "~/.pypirc",
    "TWINE_PASSWORD in the environment",
    "the prompt",
)


@dataclasses.dataclass(frozen=True)
class Found:
    """A raw token and where it came from, for reports (never the token itself)."""

    raw: str
    source: str

    def __repr__(self) -> str:
        return f"Found(raw=<redacted>, source={self.source!r})"


def same_url(a: str, b: str) -> bool:
    """Repository URLs compared as twine users write them: host case and final ``/`` aside."""

    def key(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")

    return key(a) == key(b)


def from_keyring(url: str, warnings: list[str]) -> str | None:
    """twine's lookup: ``keyring.get_password(<repository URL>, "__token__")``.

    As in twine, no keyring (not installed, or no backend) means "not there",
    and a failing backend is reported and passed over; its message is not
    shown, as it may quote stored data.
    """
    try:
        import keyring
        from keyring.errors import NoKeyringError
    except ImportError:  # keyring is optional, as it is for twine
        return None
    try:
        value = keyring.get_password(url, KEYRING_USERNAME)
    except NoKeyringError:
        return None
    except Exception as exc:
        warnings.append(
            f"warning: keyring could not be read ({type(exc).__name__}); skipped it "
            "(PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring turns it off)"
        )
        return None
    return value or None


def from_pypirc(path: Path, url: str) -> tuple[str, str] | None:
    """``(password, section)`` of the ``.pypirc`` section for ``url``, as twine reads it."""
    from twine.utils import get_config

    shown = str(path)
    path = path.expanduser()
    if not path.is_file():
        return None
    try:
        config = get_config(str(path))
    except Exception as exc:
        # configparser's errors quote the line they choke on, which may hold a token.
        raise ConfigError(
            f"{shown} could not be read ({type(exc).__name__}); "
            "its content is not shown because it may hold a token"
        ) from None
    for section, values in config.items():
        repository = values.get("repository")
        password = values.get("password")
        if repository and password and same_url(repository, url):
            return password, section
    return None


def find_token(
    url: str,
    environ: Mapping[str, str],
    dotenv: Mapping[str, str],
    dotenv_name: str,
    *,
    pypirc: Path | None = DEFAULT_PYPIRC,
    keyring: bool = True,
    prompt: Callable[[], str] | None = None,
    warnings: list[str] | None = None,
) -> Found | None:
    """The first source in the documented order that holds a token for ``url``."""
    warnings = [] if warnings is None else warnings
    if environ.get("TOKEN", "").strip():
        return Found(environ["TOKEN"].strip(), "TOKEN in the environment")
    if dotenv.get("TOKEN", "").strip():
        return Found(dotenv["TOKEN"].strip(), f"TOKEN in {dotenv_name}")
    if keyring:
        value = from_keyring(url, warnings)
        if value:
            return Found(value.strip(), f"keyring ({url}, {KEYRING_USERNAME})")
    if pypirc is not None:
        entry = from_pypirc(pypirc, url)
        if entry:
            return Found(entry[0].strip(), f"{pypirc} [{entry[1]}]")
    if environ.get("TWINE_PASSWORD", "").strip():
        return Found(environ["TWINE_PASSWORD"].strip(), "TWINE_PASSWORD in the environment")
    if prompt is not None:
        value = prompt().strip()
        if value:
            return Found(value, "the prompt")
    return None


def terminal_prompt() -> Callable[[], str] | None:
    """A hidden prompt when a person is at a terminal; ``None`` in CI or a pipe."""
    import sys

    if os.environ.get("CI") or not (sys.stdin and sys.stdin.isatty()):
        return None

    def ask() -> str:
        import getpass

        try:
            return getpass.getpass("PyPI token (input hidden): ")
        except EOFError:
            return ""

    return ask
