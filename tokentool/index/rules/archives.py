"""Is the file an archive warehouse would take: ``_is_valid_dist_file`` and the
wheel-content checks of ``file_upload`` (``warehouse/utils/wheel.py``).

Warehouse's words and order, with bounded work (a stand-in rule, marked where
it differs): a tar is streamed once, never listed in memory; it stops when it
inflates past ``max(COMPRESSION_RATIO_MIN_SIZE, 50 x its size)`` (warehouse's
zip rule; warehouse has no such bound for tars and inflates them whole) or
holds more than ``Site.max_archive_members`` members (read from a zip's end
record before its directory is loaded). So a 4 MiB .tar.gz of a 4 GiB zero
member costs 200 MiB of inflating, and two million empty members cost a
counter, not a list.
"""

from __future__ import annotations

import codecs
import configparser
import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tokentool.index.rules import zipframing
from tokentool.index.rules._base import MIB, Upload, UploadError
from tokentool.token import INTERNAL_ERROR

# warehouse.forklift.legacy
COMPRESSION_RATIO_MIN_SIZE = 64 * MIB
COMPRESSION_RATIO_THRESHOLD = 50


class _Refused(Exception):
    """``(False, message)`` from ``_is_valid_dist_file``."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass
class Summary:
    """What later rules need from the archive, kept without a full member list."""

    top_level: str = ""
    #: member names that later rules look up (PKG-INFO candidates, license files)
    names: set[str] = dataclasses.field(default_factory=set)


class _CommonPath:
    """``os.path.commonpath`` of all member names, one name at a time."""

    def __init__(self) -> None:
        self.prefix: list[str] | None = None
        self.absolute: bool | None = None
        self.mixed = False

    def add(self, name: str) -> None:
        parts = [p for p in name.split("/") if p and p != "."]
        absolute = name.startswith("/")
        if self.prefix is None:
            self.prefix, self.absolute = parts, absolute
            return
        if absolute != self.absolute:
            self.mixed = True
        keep = 0
        for a, b in zip(self.prefix, parts, strict=False):
            if a != b:
                break
            keep += 1
        del self.prefix[keep:]

    def result(self) -> str:
        # warehouse's _commonpath: "" for no members. Mixed absolute and relative
        # names make os.path.commonpath raise (a 500 on the site); "" here.
        if self.prefix is None or self.mixed:
            return ""
        return ("/" if self.absolute else "") + "/".join(self.prefix)


class _Inflated(io.RawIOBase):
    """A gzip stream that stops once it has inflated more than ``limit`` bytes."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._gzip.read(len(buffer))
        self.count += len(data)
        if self.count > self._limit:
            raise _Refused(f"File exceeds compression ratio of {COMPRESSION_RATIO_THRESHOLD}")
        buffer[: len(data)] = data
        return len(data)


def _ratio_limit(compressed: int, min_size: int) -> int:
    return max(min_size, COMPRESSION_RATIO_THRESHOLD * compressed)


def _interesting(name: str, license_files: list[str]) -> bool:
    return (
        name == "PKG-INFO"
        or name.endswith("/PKG-INFO")
        or any(name.endswith("/" + lf) for lf in license_files)
    )


@contextlib.contextmanager
def tar_stream(path: Path, up: Upload) -> Iterator[tarfile.TarFile]:
    """The .tar.gz as a tar stream, inflated at most ``_ratio_limit`` bytes.

    Read with ``next()``, clearing ``members``; inflating here rather than in
    tarfile's own ``r|gz`` costs a third as much per small member.
    """
    limit = _ratio_limit(path.stat().st_size, up.site.compression_min_size)
    with open(path, "rb") as raw:
        stream = io.BufferedReader(_Inflated(raw, limit), 64 * 1024)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            yield tar


def _check_tar(path: Path, up: Upload) -> Summary:
    summary = Summary()
    common = _CommonPath()
    license_files = list(up.meta.license_files or []) if up.meta else []
    members = 0
    with tar_stream(path, up) as tar:
        while (member := tar.next()) is not None:
            tar.members.clear()  # stream mode would keep every TarInfo otherwise
            members += 1
            if members > up.site.max_archive_members:
                # Stand-in bound; warehouse lists any number of members.
                raise _Refused(f"Too many members in archive (limit {up.site.max_archive_members})")
            common.add(member.name)
            if member.issparse():
                raise _Refused(
                    "tar archive not accepted: Sparse members are not allowed. "
                    "See https://docs.pypi.org/archives for more information"
                )
            if _interesting(member.name, license_files) and len(summary.names) < 10_000:
                summary.names.add(member.name)
    summary.top_level = common.result()
    if summary.top_level in (".", "/", ""):
        raise _Refused("Incorrect number of top-level directories in sdist")
    target = os.path.join(summary.top_level, "PKG-INFO")
    if target not in summary.names:
        raise _Refused(f"PKG-INFO not found at {target}")
    return summary


def _zip_entries(path: Path) -> int:
    with open(path, "rb") as fp:
        end = zipfile._EndRecData(fp)  # type: ignore[attr-defined]
    return int(end[zipfile._ECD_ENTRIES_TOTAL]) if end else 0  # type: ignore[attr-defined]


def _check_zip(path: Path, up: Upload) -> Summary:
    if _zip_entries(path) > up.site.max_archive_members:
        raise _Refused(f"Too many members in archive (limit {up.site.max_archive_members})")
    summary = Summary()
    with zipfile.ZipFile(path) as zfp:
        infos = zfp.infolist()
        compressed = path.stat().st_size
        decompressed = sum(e.file_size for e in infos)
        if (
            decompressed > up.site.compression_min_size
            and decompressed / compressed > COMPRESSION_RATIO_THRESHOLD
        ):
            raise _Refused(f"File exceeds compression ratio of {COMPRESSION_RATIO_THRESHOLD}")
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Refused("File does not use a supported compression type")
        if up.filename.endswith(".zip"):
            common = _CommonPath()
            for info in infos:
                common.add(info.filename)
            summary.top_level = common.result()
            if summary.top_level in (".", "/", ""):
                raise _Refused("Incorrect number of top-level directories in sdist")
            target = os.path.join(summary.top_level, "PKG-INFO")
            try:
                _read_through(zfp, target)
            except KeyError:
                raise _Refused(f"PKG-INFO not found at {target}") from None
        if up.filename.endswith(".whl"):
            try:
                name, version, _ = os.path.basename(up.filename).split("-", 2)
            except ValueError:
                raise _Refused("Unable to parse name and version from wheel filename") from None
            target = os.path.join(f"{name}-{version}.dist-info", "WHEEL")
            try:
                _read_through(zfp, target)
            except KeyError:
                raise _Refused(f"WHEEL not found at {target}") from None
    return summary


def _read_through(zfp: zipfile.ZipFile, name: str) -> None:
    """``zfp.read(name)`` as warehouse does it, in chunks and discarded: a bad CRC or
    a broken stream is ``BadZipFile`` ("Invalid distribution file. None")."""
    with zfp.open(name) as member:
        while member.read(1024 * 1024):
            pass


@contextlib.contextmanager
def dist_file_refusals() -> Iterator[None]:
    """``_is_valid_dist_file``'s answers: ``(False, message)``, and the archive errors
    it turns into ``(False, None)``, each as ``Invalid distribution file. {message}``.

    One definition for the three rules that make up ``_is_valid_dist_file`` here:
    ``valid_dist_file``, ``malware.no_encrypted_code`` and ``zip_framing``.
    """
    try:
        yield
    except _Refused as refusal:
        # Warehouse formats a missing reason too: "Invalid distribution file. None".
        raise UploadError(400, f"Invalid distribution file. {refusal.message}") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError, RuntimeError):
        # RuntimeError: an encrypted member (a 500 on the site).
        raise UploadError(400, "Invalid distribution file. None") from None


# warehouse.forklift.legacy._is_valid_dist_file up to its YARA scan (rules/malware.py
# runs next, then zip_framing: the rest of the function).
def valid_dist_file(up: Upload) -> None:
    assert up.path is not None
    path, filename = up.path, up.filename
    with dist_file_refusals():
        is_zip = zipfile.is_zipfile(path)
        is_tar = _is_tarfile(path)
        if is_zip and is_tar:
            raise _Refused("File is both a zip and a tar file")
        if filename.endswith((".zip", ".whl")):
            if not is_zip:
                raise _Refused("File is not a zipfile")
            up.archive = _check_zip(path, up)
        elif filename.endswith(".tar.gz"):
            if not is_tar:
                raise _Refused("File is not a tarfile")
            up.archive = _check_tar(path, up)


# warehouse.forklift.legacy._is_valid_dist_file, its last check of a zip (after the
# YARA scan): warehouse.utils.zipfiles.validate_zipfile, no parser differentials.
def zip_framing(up: Upload) -> None:
    assert up.path is not None
    if not up.filename.endswith((".zip", ".whl")):
        return
    with dist_file_refusals(), zipfile.ZipFile(up.path) as zfp:
        reason = zipframing.problem(zfp)
        if reason is not None:
            raise _Refused(
                f"ZIP archive not accepted: {reason}. "
                "See https://docs.pypi.org/archives for more information"
            )


def _is_tarfile(path: Path) -> bool:
    """``tarfile.is_tarfile``: reads one header, whatever the compression."""
    try:
        with tarfile.open(path):
            return True
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        return False


# -- wheel contents (file_upload, after the filename checks) -------------------------
def _dist_info(up: Upload) -> str:
    name, version, _ = up.filename.split("-", 2)
    return f"{name}-{version}.dist-info"


def wheel_license_files(up: Upload) -> None:
    assert up.path is not None and up.meta is not None
    if not up.meta.license_files:
        return
    with zipfile.ZipFile(up.path) as zfp:
        names = set(zfp.namelist())
    for license_file in up.meta.license_files:
        target = f"{_dist_info(up)}/licenses/{license_file}"
        if target not in names:
            raise UploadError(
                400,
                f"License-File {license_file} does not exist in distribution file "
                f"{up.filename} at {target}",
            )


_TEXT_CHUNK = 64 * 1024
#: Stand-in bound: warehouse parses RECORD whole; a RECORD line (path, hash, size)
#: past this is refused as unparseable, so one line never holds much memory.
MAX_RECORD_LINE = 256 * 1024
#: Stand-in bound: warehouse hands entry_points.txt whole to configparser, which
#: keeps every option; a real one is a few KiB.
MAX_ENTRY_POINTS = 1 * MIB


class _NotUtf8(Exception):
    """The member is not UTF-8 (``.decode()`` raising UnicodeError in warehouse)."""


#: What ``str.splitlines`` ends a line at.
_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


class _Text:
    """A member's text as ``data.decode().splitlines()`` gives it, one line at a time,
    decoded as it is read. ``None`` stands for a line longer than ``max_line``,
    which is skipped, never held. A byte that is not UTF-8 raises ``_NotUtf8``;
    warehouse decodes the whole member before reading a line, so after an answer
    from the lines, ``drain`` decodes the rest: a UnicodeError there wins."""

    def __init__(self, stream: BinaryIO, max_line: int) -> None:
        self._stream = stream
        self._max = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def _decode(self, chunk: bytes) -> str:
        try:
            return str(self._decoder.decode(chunk, final=not chunk))
        except UnicodeDecodeError:
            raise _NotUtf8 from None

    def lines(self) -> Iterator[str | None]:
        carry = ""
        skipping = False
        while True:
            chunk = self._stream.read(_TEXT_CHUNK)
            pieces = (carry + self._decode(chunk)).splitlines(keepends=True)
            carry = ""
            # The last piece may go on in the next chunk (no line end yet, or a "\r"
            # whose "\n" is still to come): keep it for then.
            if chunk and pieces and (pieces[-1][-1] not in _LINE_ENDS or pieces[-1][-1] == "\r"):
                carry = pieces.pop()
            for piece in pieces:
                if skipping:
                    skipping = False
                    continue
                yield piece.splitlines()[0]
            if len(carry) > self._max:
                if not skipping:
                    yield None
                skipping, carry = True, ""
            if not chunk:
                return

    def drain(self) -> None:
        while chunk := self._stream.read(_TEXT_CHUNK):
            self._decode(chunk)
        self._decode(b"")


class _BlankRow(Exception):
    """``for fn, *_ in csv.reader(...)`` meets an empty row: ValueError, a 500 there."""


# warehouse.utils.wheel._validate_record: ``archive.read(RECORD).decode()``, then
# ``{fn for fn, *_ in csv.reader(text.splitlines())}``, catching UnicodeError,
# KeyError and csv.Error (the 400 below). A blank line unpacks no ``fn``: a
# ValueError nobody catches, so the site answers 500. A RECORD that disagrees with
# the archive only makes the site e-mail the owners, so the names are not kept:
# the stand-in reads RECORD as a stream, in memory independent of its size.
def wheel_record(up: Upload) -> None:
    assert up.path is not None
    record = f"{_dist_info(up)}/RECORD"
    missing = UploadError(
        400, f"Wheel '{up.filename}' does not contain the required RECORD file: {record}"
    )
    outcome: Exception | None = None
    try:
        with zipfile.ZipFile(up.path) as zfp, zfp.open(record) as stream:
            text = _Text(stream, MAX_RECORD_LINE)
            try:
                for row in csv.reader(_until_too_long(text.lines())):
                    if not row:
                        outcome = _BlankRow()
                        break
            except csv.Error as exc:
                outcome = exc
            text.drain()
    except (KeyError, _NotUtf8):
        raise missing from None
    if isinstance(outcome, _BlankRow):
        raise UploadError(500, INTERNAL_ERROR)
    if outcome is not None:
        raise missing


def _until_too_long(lines: Iterator[str | None]) -> Iterator[str]:
    for line in lines:
        if line is None:
            raise csv.Error("line too long (stand-in bound)")
        yield line


_ENTRY_POINT_NAME_RE = re.compile(r"[\w.-]+")


class _CaseSensitive(configparser.ConfigParser):
    optionxform = staticmethod(str)  # type: ignore[assignment]


# warehouse.utils.wheel.validate_entrypoints
def wheel_entry_points(up: Upload) -> None:
    assert up.path is not None
    refusal = UploadError(
        400,
        f"Wheel '{up.filename}' has invalid entry points defined in the entry_points.txt file",
    )
    try:
        with zipfile.ZipFile(up.path) as zfp, zfp.open(f"{_dist_info(up)}/entry_points.txt") as f:
            data = f.read(MAX_ENTRY_POINTS + 1)
            if len(data) > MAX_ENTRY_POINTS:
                raise UploadError(
                    400,
                    f"Wheel '{up.filename}' has an entry_points.txt larger than the "
                    f"stand-in's limit ({MAX_ENTRY_POINTS // MIB} MiB)",
                )
        text = data.decode()
    except KeyError:
        return
    except UnicodeError:
        raise refusal from None
    parser = _CaseSensitive(delimiters=("=",))
    try:
        parser.read_string(text)
    except configparser.Error:
        raise refusal from None
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            for name in parser[section]:
                if _ENTRY_POINT_NAME_RE.fullmatch(name) is None:
                    raise refusal


# file_upload: ``zfp.read(METADATA)``, then written to ``<filename>.metadata`` beside
# the upload (PEP 658; OSError there: "Filename is too long") and hashed. Here it is
# copied and hashed as a stream, and published beside the wheel with it.
def wheel_metadata(up: Upload) -> None:
    assert up.path is not None
    target = f"{_dist_info(up)}/METADATA"
    with zipfile.ZipFile(up.path) as zfp:
        try:
            info = zfp.getinfo(target)
        except KeyError:
            raise UploadError(
                400,
                f"Wheel '{up.filename}' does not contain the required METADATA file: {target}",
            ) from None
        hashers = {"sha256": hashlib.sha256(), "blake2_256": hashlib.blake2b(digest_size=32)}
        beside = up.path.with_name(up.path.name + ".metadata")
        try:
            with zfp.open(info) as member, open(beside, "xb") as out:
                up.metadata_path = beside  # removed with the upload if refused later
                while chunk := member.read(_TEXT_CHUNK):
                    out.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
        except (zipfile.BadZipFile, EOFError, zlib.error):
            raise UploadError(500, INTERNAL_ERROR) from None  # zfp.read raising: uncaught
    # open(temporary_filename + ".metadata") fails past the file system's limit.
    if len((up.filename + ".metadata").encode()) > 255:
        raise UploadError(400, f"Filename is too long: '{up.filename}'")
    up.metadata_hashes = {name: h.hexdigest() for name, h in hashers.items()}
