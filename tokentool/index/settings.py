"""The stand-in's settings, declared once: each field's default, help and option.

``tokentool index serve``'s options (``add_arguments`` / ``from_argparse``),
the argv ``start_server`` starts a child with (``argv``), ``invoke index``'s
help and the rules' ``Site`` all come from ``ServeSettings``: a setting is
added by adding one field here. The site-wide defaults are Test PyPI's
(warehouse's config, named on each field); ``Site`` takes them from here.

Import-light (stdlib only): the CLI's parser and ``start_server`` read it
without waitress or the rules.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tokentool._root import DEFAULT_PORT

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_DOMAIN",
    "GIB",
    "MAX_ARCHIVE_MEMBERS",
    "MIB",
    "ServeSettings",
]

MIB = 1024 * 1024
GIB = 1024 * MIB
#: Not warehouse: the most members one archive may make anyone walk (the stand-in's
#: rules/archives.py, and ``upload --dist`` looking for an sdist's PKG-INFO).
MAX_ARCHIVE_MEMBERS = 50_000
DEFAULT_DATA_DIR = Path(".tokentool") / "index"
DEFAULT_DOMAIN = "localhost"


def _size(text: str) -> int:
    units = {"": 1, "k": 1024, "kib": 1024, "m": MIB, "mib": MIB, "g": GIB}
    lowered = text.strip().lower()
    number = lowered.rstrip("kmgib")
    unit = lowered[len(number) :]
    if not number.isdigit() or unit not in units or int(number) <= 0:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r} (e.g. 104857600 or 100MiB)")
    return int(number) * units[unit]


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}")
    return int(text)


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r} (at least 1)")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r} (0-65535, 0 picks a free one)")
    return int(text)


def _setting(
    default: Any,
    help: str,
    *,
    parse: Callable[[str], Any] = str,
    metavar: str | None = None,
    flag: str | None = None,
    shown: str | None = None,
) -> Any:
    """A field that is also a command-line option (``--flag``, ``help`` + its default)."""
    text = help if shown == "" else f"{help} (default: {shown or default})"
    meta = {"help": text, "parse": parse, "metavar": metavar, "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """Everything ``tokentool index serve`` runs with."""

    data_dir: Path | None = _setting(
        None,
        f"state folder (default: {DEFAULT_DATA_DIR} in the project root, the nearest folder "
        "above holding tasks.py, else pyproject.toml); with --database, only where package "
        "files go (a folder every stand-in shares), else they go in the database",
        parse=Path,
        shown="",
    )
    #: None: SQLite in ``data_dir``, the single-maintainer default.
    database: str | None = _setting(
        None,
        "postgresql://USER@HOST/DB: keep the state in PostgreSQL, shared by every stand-in "
        "started on it (default: SQLite in --data-dir); env:NAME reads the URL from that "
        "variable. Give the password through PGPASSWORD or ~/.pgpass, not in the URL "
        "(argv is visible to others)",
        metavar="URL",
        shown="",
    )
    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(DEFAULT_PORT, "port to listen on; 0 picks a free one", parse=_port)
    domain: str = _setting(DEFAULT_DOMAIN, "macaroon location of minted tokens")
    #: warehouse.constants / Project.upload_limit_size default: 100 MiB a file.
    max_upload_size: int = _setting(
        100 * MIB, "largest accepted file", parse=_size, metavar="BYTES", shown="100MiB"
    )
    #: PROJECT_CREATE_USER_RATELIMIT_STRING default "20 per hour" (0: no limit).
    new_project_limit: int = _setting(
        20, "new projects per user and hour before 429; 0: no limit", parse=_count, metavar="N"
    )
    threads: int = _setting(8, "worker threads", parse=_positive, metavar="N")
    #: ProhibitedProjectName rows: admins add them on the site; here the operator does.
    prohibited_names: tuple[str, ...] = _setting(
        (),
        "a project name the site's admins prohibited (repeatable; Test PyPI's own list is "
        "not public)",
        metavar="NAME",
        flag="prohibit",
        shown="",
    )

    #: warehouse's ``forklift.domain`` (FORKLIFT_DOMAIN); see ``Site.forklift_domain``.
    forklift_domain: str | None = _setting(
        None,
        "warehouse's FORKLIFT_DOMAIN: uploads are routed on HOST only, and a POST without "
        ":action answers 405 there (default: unset, any host, 404; Test PyPI's setting is "
        "not public)",
        metavar="HOST",
        shown="",
    )

    @staticmethod
    def _fields() -> Iterator[tuple[dataclasses.Field[Any], str]]:
        for field in dataclasses.fields(ServeSettings):
            yield field, field.metadata["flag"] or field.name.replace("_", "-")

    @classmethod
    def help(cls, name: str) -> str:
        """The help of one setting (``invoke index`` shows the same words)."""
        return str(next(f.metadata["help"] for f, _ in cls._fields() if f.name == name))

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for field, flag in cls._fields():
            repeat = isinstance(field.default, tuple)
            parser.add_argument(
                f"--{flag}",
                dest=field.name,
                type=field.metadata["parse"],
                default=[] if repeat else field.default,
                action="append" if repeat else "store",
                metavar=field.metadata["metavar"],
                help=field.metadata["help"].replace("%", "%%"),
            )

    @classmethod
    def from_argparse(cls, args: argparse.Namespace) -> ServeSettings:
        given = vars(args)
        values = {f.name: given[f.name] for f, _ in cls._fields() if f.name in given}
        if "prohibited_names" in values:
            values["prohibited_names"] = tuple(values["prohibited_names"])
        return cls(**values)

    def argv(self) -> list[str]:
        """The options that give a child ``tokentool index serve`` these settings."""
        argv: list[str] = []
        for field, flag in self._fields():
            value = getattr(self, field.name)
            if value is None or (value == field.default and field.name != "data_dir"):
                continue
            for one in value if isinstance(value, tuple) else (value,):
                argv += [f"--{flag}", str(one)]
        return argv
