"""The user's own built files (``--dist 'dist/*'``): which project each one is, from its metadata.

The project is read from each file's metadata (a wheel's ``*.dist-info/METADATA``,
an sdist's ``NAME-VERSION/PKG-INFO``), never from its file name: twine sends
the metadata's ``Name``, and that is the project the index judges the token
against, so a token derived from a file name that disagrees would be refused.

Reads are bounded: only the one metadata member is read, at most
``MAX_METADATA`` bytes of it; an sdist is read as a stream, at most
``MAX_MEMBERS`` members (the stand-in's archive bound) and ``MAX_SCANNED``
decompressed bytes before its ``PKG-INFO`` turns up (setuptools writes it
first, hatchling last), so a decompression bomb or a tar of a million entries
costs a bounded amount of work. twine's own reader (``twine.sdist``) lists
every member and reads the whole of ``PKG-INFO`` first; this runs before
twine sees a file, so a hostile file is refused before twine reads it.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import tarfile
import zipfile
from collections.abc import Sequence
from email.parser import HeaderParser
from pathlib import Path

import tokentool
from tokentool._safety import escape
from tokentool.exceptions import ConfigError, TokenError
from tokentool.index.settings import MAX_ARCHIVE_MEMBERS

__all__ = ["Dist", "OwnFiles", "find_dists", "group_by_project", "read_dist"]

MAX_METADATA = 1024 * 1024
MAX_MEMBERS = MAX_ARCHIVE_MEMBERS
MAX_SCANNED = 512 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Dist:
    """One built file and the project and version its metadata names."""

    path: Path
    project: str
    version: str

    @property
    def is_wheel(self) -> bool:
        return self.path.name.endswith(".whl")


@dataclasses.dataclass(frozen=True)
class OwnFiles:
    """The files of one project, shaped as the sample's ``Built`` is read by the flow."""

    project: str
    dists: tuple[Dist, ...]

    @property
    def version(self) -> str:
        return ", ".join(sorted({d.version for d in self.dists}))

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(d.path for d in self.dists)

    @property
    def wheel(self) -> Path:
        """The file a probe sends: a wheel if there is one (smaller, as warehouse reads it)."""
        return next((d.path for d in self.dists if d.is_wheel), self.dists[0].path)


def _fields(raw: bytes, where: str) -> tuple[str, str]:
    if len(raw) > MAX_METADATA:
        raise ConfigError(f"{where}: its metadata is larger than {MAX_METADATA} bytes")
    headers = HeaderParser().parsestr(raw.decode("utf-8", errors="replace"))
    name, version = (headers.get("Name") or "").strip(), (headers.get("Version") or "").strip()
    if not name or not version:
        raise ConfigError(f"{where}: its metadata names no project (Name) or no Version")
    try:
        tokentool.normalize_project(name)
    except TokenError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return name, version


def _wheel_metadata(path: Path, shown: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        found = [
            info
            for info in archive.infolist()
            if info.filename.count("/") == 1
            and info.filename.split("/")[0].endswith(".dist-info")
            and info.filename.endswith("/METADATA")
        ]
        if len(found) != 1:
            raise ConfigError(f"{shown}: not a wheel (no single *.dist-info/METADATA)")
        if found[0].file_size > MAX_METADATA:
            raise ConfigError(f"{shown}: its metadata is larger than {MAX_METADATA} bytes")
        with archive.open(found[0]) as member:
            return member.read(MAX_METADATA + 1)


class _TooMuch(Exception):
    pass


class _Counted(gzip.GzipFile):
    """A gzip stream that stops after ``MAX_SCANNED`` decompressed bytes."""

    scanned = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.scanned += len(data)
        if self.scanned > MAX_SCANNED:
            raise _TooMuch
        return data


def _sdist_metadata(path: Path, shown: str) -> bytes:
    with _Counted(path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for count, member in enumerate(archive):
            if count >= MAX_MEMBERS:
                break
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                if member.size > MAX_METADATA:
                    raise ConfigError(f"{shown}: its metadata is larger than {MAX_METADATA} bytes")
                extracted = archive.extractfile(member)
                assert extracted is not None  # a regular file
                return extracted.read(MAX_METADATA + 1)
    raise ConfigError(f"{shown}: not an sdist (no NAME-VERSION/PKG-INFO among its first entries)")


def read_dist(path: Path) -> Dist:
    """The project and version ``path``'s metadata names; one-sentence ``ConfigError`` otherwise."""
    shown = escape(str(path))
    if not path.is_file():
        raise ConfigError(f"{shown}: not a regular file")
    try:
        if path.name.endswith(".whl"):
            raw = _wheel_metadata(path, shown)
        elif path.name.endswith(".tar.gz"):
            raw = _sdist_metadata(path, shown)
        else:
            raise ConfigError(f"{shown}: not a wheel (.whl) or an sdist (.tar.gz)")
    except _TooMuch:
        raise ConfigError(
            f"{shown}: decompresses to more than {MAX_SCANNED} bytes before its PKG-INFO"
        ) from None
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, EOFError, OSError) as exc:
        raise ConfigError(
            f"{shown}: cannot be read as a distribution ({type(exc).__name__})"
        ) from None
    return Dist(path, *_fields(raw, shown))


def find_dists(pattern: str) -> list[Dist]:
    """The files ``pattern`` (a glob, as twine expands ``dist/*``) names, with their metadata."""
    paths = sorted({Path(p) for p in glob.glob(pattern)})
    if not paths:
        raise ConfigError(f"--dist {escape(repr(pattern))} matches no file: build first")
    return [read_dist(p) for p in paths]


def group_by_project(dists: Sequence[Dist], named: Sequence[str]) -> list[OwnFiles]:
    """The files by project; several projects only when ``named`` names each of them.

    A token is derived per project, so files of a project the user did not
    name would be published with a token they never asked for: refused.
    """
    groups: dict[str, list[Dist]] = {}
    for dist in dists:
        groups.setdefault(tokentool.normalize_project(dist.project), []).append(dist)
    wanted = {tokentool.normalize_project(n): n for n in named}
    found = sorted(groups)
    if named:
        missing = sorted(set(wanted) - set(groups))
        unnamed = sorted(set(groups) - set(wanted))
        if missing:
            raise ConfigError(
                f"--project {', '.join(escape(wanted[m]) for m in missing)}: no file given "
                f"with --dist is of that project (they are of {', '.join(found)})"
            )
        if unnamed:
            raise ConfigError(
                f"--dist holds files of {', '.join(unnamed)} too, which no --project names: "
                "name each project to upload, or narrow the glob"
            )
    elif len(groups) > 1:
        raise ConfigError(
            f"--dist holds files of several projects ({', '.join(found)}): pass --project "
            "for each one to upload them all, or narrow the glob"
        )
    return [OwnFiles(groups[key][0].project, tuple(groups[key])) for key in found]
