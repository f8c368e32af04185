"""Every option of the workflow commands, declared once: name, type, default, help.

``tokentool upload|verify-rejection|cycle|probe`` (argparse) and ``invoke
upload|verify-rejection|cycle|probe`` (Invoke tasks) are both derived from
``COMMANDS``, as twine derives its command line from ``Settings``
(``register_argparse_arguments`` / ``from_argparse``): the two faces cannot
drift, and ``tests/test_options.py`` compares their ``--help``. The workflow
functions take their defaults from here too (``Timeouts``, ``ttl``).

Import-light on purpose (stdlib and ``tokentool.exceptions`` only): ``invoke --list`` and the light
``tokentool`` install import it.
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from collections.abc import Mapping
from typing import Any

from tokentool.exceptions import ConfigError

__all__ = [
    "COMMANDS",
    "CONNECT_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TTL",
    "READ_TIMEOUT",
    "TTL",
    "Command",
    "Option",
    "Settings",
    "add_arguments",
    "option",
]

Value = str | float | bool | None

#: The defaults the workflow functions take too (``Timeouts``, ``derive_for``):
#: named here so that they are typed, declared by the options below. Test PyPI
#: connects in well under a second and answers an upload of a small file within
#: a few seconds, slower on a bad day: 10 s and 60 s fail a dead or mute index
#: in a minute without failing a slow one.
DEFAULT_TTL = "15m"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class Option:
    """One option as both faces show it: ``--name`` with ``help``, ``default`` shown there.

    The type is the default's (a ``bool`` default makes a flag, a ``float``
    default a number of seconds); ``repeatable`` makes a list.
    """

    name: str
    help: str
    default: Value = None
    metavar: str = ""
    repeatable: bool = False
    required: bool = False

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def is_flag(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def text(self) -> str:
        """The help line, with the default when it is a value (one wording for both faces)."""
        if self.default is None or self.is_flag:
            return self.help
        shown = f"{self.default:g}" if isinstance(self.default, float) else self.default
        return f"{self.help} (default: {shown})"


TTL = Option(
    "ttl",
    "validity of the derived token, e.g. 15m, 2h; 'none' for no window",
    DEFAULT_TTL,
    "DURATION",
)
CONNECT_TIMEOUT = Option(
    "connect-timeout",
    "seconds to wait for a connection to the index",
    DEFAULT_CONNECT_TIMEOUT,
    "SECONDS",
)
READ_TIMEOUT = Option(
    "read-timeout",
    "seconds to wait for the index's answer to each request",
    DEFAULT_READ_TIMEOUT,
    "SECONDS",
)
_PROJECT = Option(
    "project", "project name (default: test-<PYPI_USERNAME>-<YYYY-MM-DD>)", metavar="NAME"
)
_UPLOAD_PROJECT = dataclasses.replace(
    _PROJECT,
    help="project name (default: test-<PYPI_USERNAME>-<YYYY-MM-DD>); with --dist, the "
    "project the files' metadata names, repeated for each when they name several",
    repeatable=True,
)
_VERSION = Option(
    "version", "version to build (default: a new 0.0.<microseconds> on every run)", metavar="V"
)
_DIST = Option(
    "dist",
    "your own built files to send instead of the bundled sample, e.g. 'dist/*' (quoted: "
    "expanded here); the project is read from each file's metadata; nothing is built",
    metavar="GLOB",
)
_URL = Option(
    "repository-url",
    "upload URL, as twine's --repository-url; overrides REPOSITORY_URL "
    "(default https://test.pypi.org/legacy/)",
    metavar="URL",
)
_OLD_URL = Option("index-url", "old name of --repository-url", metavar="URL")
_PRODUCTION = Option(
    "allow-production", "allow uploading to production pypi.org (refused unless given)", False
)
_OTHER_HOST = Option(
    "allow-other-host", "send a private index's token to a host other than the one it names", False
)
_OTHER = Option(
    "other", "project the wrong token is restricted to (default: NAME-elsewhere)", metavar="NAME"
)
_CASE = Option(
    "case",
    "'project' (token for another project) or 'expired' (window in the past)",
    "project",
    "CASE",
)
_NEW_PROJECT = Option(
    "allow-new-project",
    "send even if NAME does not exist yet (the index creates it first and counts it against "
    "your new-project quota, even when it refuses the token)",
    False,
)
_REAL_UPLOAD = Option(
    "real-upload",
    "if the index can't be probed (it does not judge tokens before files), upload the real "
    "files instead: publishes them if the index wrongly accepts the token",
    False,
)
_EXPECT_REFUSAL = Option(
    "expect-refusal",
    "the token should be refused: an acceptance is a SECURITY failure (exit 4)",
    False,
)
_PROBE_VERSION = dataclasses.replace(
    _VERSION, help="version of the sample file sent (default: a new 0.0.<microseconds>)"
)
_JSON = Option("json", "machine-readable output (the probe's result as JSON)", False)
_CONFORMANCE_PROJECT = Option(
    "project",
    "an existing project the token may upload to (required)",
    metavar="NAME",
    required=True,
)
_CONFORMANCE_JSON = Option("json", 'print {"cases": [...]} instead of the table', False)
_ASK_PRODUCTION = Option("allow-production", "ask production pypi.org too", False)

_SEND = (_URL, _OLD_URL, _PRODUCTION, _OTHER_HOST, CONNECT_TIMEOUT, READ_TIMEOUT)

_PROBE_EPILOG = """\
Exit codes:
  0  accepted: the index would take an upload of this file with this token
  1  refused: the index's reason follows, named (token scope or signature,
     unknown token, no role on the project, unverified e-mail, no 2FA, the
     new-project rate limit, a name the index does not allow, uploads disabled)
  2  bad input (options, the token, the file)
  3  inconclusive: the index cannot be probed (it does not judge tokens before
     files as warehouse does, cannot be reached, or the project does not exist)
  4  SECURITY: with --expect-refusal, the index accepted the token

How: the real file is uploaded with a deliberately wrong digest. Warehouse
judges the token before the file, so a refusal comes back as it would for a
real upload, and an acceptance as "400 The digest supplied does not match",
with nothing published. Two controls (an unknown token, the token with a broken
signature) first prove that the index judges in that order. Safe on production
pypi.org."""

_CONFORMANCE_EPILOG = """\
Exit codes:
  0  every answer as predicted
  1  at least one answer differs (the table says which, and how)
  2  bad input (options, the token, a destination the token may not go to)
  3  it could not run: the project does not exist, or the index could not be reached
  4  SECURITY: the index accepted a token it must refuse

Every question is refused by warehouse before anything is stored or created:
no project is created and nothing is published (tokentool.conformance explains
the order). At most 20 requests and 1 MiB in all. Production pypi.org only
with --allow-production."""

_TOKEN_SOURCES = "The token comes from TOKEN, .env, keyring, ~/.pypirc or TWINE_PASSWORD (README)."


@dataclasses.dataclass(frozen=True)
class Command:
    """A workflow command: its one-line summary, what else it says, and its options."""

    name: str
    summary: str
    description: str
    options: tuple[Option, ...]
    epilog: str = ""

    @property
    def text(self) -> str:
        """What the command does, wrapped: ``tokentool NAME --help``'s description."""
        return "\n\n".join(textwrap.fill(p, 76) for p in (self.summary, self.description))

    @property
    def doc(self) -> str:
        """The Invoke task's docstring: the same words as ``tokentool NAME --help``."""
        return "\n\n".join([self.text] + ([self.epilog] if self.epilog else []))


COMMANDS: Mapping[str, Command] = {
    c.name: c
    for c in (
        Command(
            "upload",
            "Build NAME, derive a token restricted to it, upload both files with that token.",
            "With --dist, your own files instead, each with a token restricted to the "
            "project its metadata names. " + _TOKEN_SOURCES,
            (_UPLOAD_PROJECT, _VERSION, _DIST, TTL, *_SEND),
        ),
        Command(
            "verify-rejection",
            "Prove the index refuses NAME's upload with a token restricted elsewhere; "
            "publishes nothing.",
            "The real file goes with a wrong digest, after two controls prove the index "
            "judges tokens before files (warehouse's order). NAME must exist already (a first "
            "upload spends new-project quota). " + _TOKEN_SOURCES,
            (_PROJECT, _OTHER, _CASE, _VERSION, _DIST, *_SEND, _NEW_PROJECT, _REAL_UPLOAD),
        ),
        Command(
            "cycle",
            "Upload NAME, then verify-rejection on NAME: the whole check, one set of options.",
            "The upload creates NAME, so the negative step's quota guard passes. " + _TOKEN_SOURCES,
            (_PROJECT, _VERSION, TTL, _OTHER, _CASE, *_SEND, _REAL_UPLOAD),
        ),
        Command(
            "probe",
            "Would the index accept your token for NAME? Publishes and creates nothing.",
            "A project that does not exist is not probed: the index would create it and count "
            "it against your new-project limit. " + _TOKEN_SOURCES,
            (
                _PROJECT,
                _PROBE_VERSION,
                _DIST,
                _URL,
                _OLD_URL,
                _OTHER_HOST,
                _NEW_PROJECT,
                _EXPECT_REFUSAL,
                CONNECT_TIMEOUT,
                READ_TIMEOUT,
                _JSON,
            ),
            _PROBE_EPILOG,
        ),
        Command(
            "conformance",
            "Does the index still answer as tokentool predicts Test PyPI answers? "
            "Publishes nothing.",
            "It asks a fixed set of questions (no credentials, an unknown token, a broken "
            "signature, tokens restricted elsewhere, expired, not yet valid or for another "
            "user, a wrong digest, an unsupported metadata version, a misnamed file, no "
            ":action, the JSON API and PEP 691) and compares each answer, status and words, "
            "with the prediction. " + _TOKEN_SOURCES,
            (
                _CONFORMANCE_PROJECT,
                _URL,
                _OLD_URL,
                _CONFORMANCE_JSON,
                _ASK_PRODUCTION,
                _OTHER_HOST,
                CONNECT_TIMEOUT,
                READ_TIMEOUT,
            ),
            _CONFORMANCE_EPILOG,
        ),
    )
}


def option(command: str, name: str) -> Option:
    """``command``'s option ``--name``, for a task or command that shares it (``invoke token``)."""
    return next(o for o in COMMANDS[command].options if o.name == name)


def add_arguments(parser: argparse.ArgumentParser, command: Command) -> None:
    """Register ``command``'s options on an argparse parser (``tokentool NAME``)."""
    for option in command.options:
        flags = (["-p"] if option.name == "project" else []) + [f"--{option.name}"]
        shown = option.text.replace("%", "%%")
        if option.is_flag:
            parser.add_argument(*flags, dest=option.dest, action="store_true", help=shown)
        elif option.repeatable:
            parser.add_argument(
                *flags,
                dest=option.dest,
                action="append",
                default=[],
                metavar=option.metavar,
                help=shown,
            )
        else:
            parser.add_argument(
                *flags,
                dest=option.dest,
                default=option.default,
                metavar=option.metavar,
                required=option.required,
                help=shown,
            )


class OptionError(ConfigError):
    """A value no face may pass on (one sentence, naming the option): exit 2 on both faces."""


def _seconds(option: Option, value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise OptionError(f"--{option.name} must be a positive number of seconds, got {value!r}")
    return seconds


@dataclasses.dataclass(frozen=True)
class Settings:
    """The values of one command's options, checked the same way whichever face read them."""

    command: Command
    values: Mapping[str, Any]

    @classmethod
    def from_values(cls, command: str | Command, given: Mapping[str, Any]) -> Settings:
        """From ``argparse.Namespace`` vars or an Invoke task's keyword arguments."""
        spec = COMMANDS[command] if isinstance(command, str) else command
        values: dict[str, Any] = {}
        for option in spec.options:
            value = given.get(option.dest, option.default)
            if option.repeatable:
                value = tuple(value or ())
            elif isinstance(option.default, float):
                value = _seconds(option, value)
            if option.required and not value:
                raise OptionError(f"--{option.name} is required: {option.help}")
            values[option.dest] = value
        if len(values.get("project") or ()) > 1 and isinstance(values["project"], tuple):
            if not values.get("dist"):
                raise OptionError("--project names one project, unless --dist is given")
        if values.get("dist") and values.get("version"):
            raise OptionError(
                "--version names the version of the sample that is built; --dist sends your "
                "files as they were built: give one of them"
            )
        return cls(spec, values)

    @classmethod
    def from_argparse(cls, command: str, args: argparse.Namespace) -> Settings:
        return cls.from_values(command, vars(args))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            option = {o.dest: o for c in COMMANDS.values() for o in c.options}.get(name)
            if option is None:
                raise AttributeError(name) from None
            return () if option.repeatable else option.default

    @property
    def project(self) -> str | None:
        """The one project named (``upload`` takes several, for ``--dist`` only)."""
        value = self.values.get("project")
        if isinstance(value, tuple):
            return value[0] if value else None  # several only with --dist: from_values
        return value
