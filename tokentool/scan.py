"""Find PyPI tokens of every issuer in files, before ``git add .`` publishes them.

The well-known scanners match ``pypi-AgEIcHlwaS5vcmc`` (pypi.org) and at best
``pypi-AgENdGVzdC5weXBpLm9yZw`` (test.pypi.org) followed by 70+ characters, so
a token of a private index, of the local stand-in or with a short identifier
passes them. This scanner keys on what every token shares instead: the literal
``pypi-`` and a base64 body that must *decode* as a V2 macaroon. The literal is
found with ``bytes.find`` over large binary chunks (the cost of a scan is the
cost of reading the files), and only the rare candidates are decoded.

What is reported, and how:

- ``macaroon``: the body decodes as a macaroon (either base64 alphabet, with or
  without ``=`` padding, ``%2B``/``%2F``/``%3D`` URL-encoded); its issuer
  domain (macaroon location) and identifier are shown.
- ``token-shaped``: the body does not decode but starts like a V2 macaroon
  (``AgE``/``AgI``: version byte 2, then a location or identifier field) and is
  at least :data:`MIN_SHAPED` characters long: a damaged or truncated token is
  still worth a look.
- Nothing else: a bare ``pypi-``, prose (``pypi-server``, ``pypi-simple``), the
  token *prefix* quoted in documentation (``pypi-AgENdGVzdC5weXBpLm9yZw``) or
  random base64 that does not start a macaroon.

A token is never kept in a :class:`Finding`: only its redacted form and the
SHA-256 of its canonical form (URL-decoded, base64url alphabet, no padding,
prefix ``pypi-``), which is what the allowlist stores. The same token written
in another alphabet or with padding therefore hashes the same.

Binary files (a NUL byte in their first 8000 bytes, git's own test) are skipped
as the issue asks, unless ``include_binary`` is set: a token inside a binary is
still a leak, but a binary is rarely where a developer pastes one, and git
diffs would not show it either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "ALLOWLIST_NAME",
    "ALLOW_MARKER",
    "Allowlist",
    "Finding",
    "ScanError",
    "Scanner",
    "canonical",
    "scan_paths",
]

#: Read size; a file smaller than this is read in one call.
CHUNK = 1 << 20
#: A line longer than this is not carried whole into the next chunk (minified
#: files); a candidate in it is still found, only the inline marker must then
#: be within this distance of the token.
MAX_CARRY = 1 << 20
#: A candidate longer than this is judged on the part in memory (a token is
#: a few hundred characters; this bounds memory on a file of pure base64).
MAX_TOKEN = 1 << 16
#: git's test for a binary file: a NUL byte in the first 8000 bytes.
BINARY_SNIFF = 8000
#: Shortest body reported as token-shaped: a V2 macaroon holds a 32-byte
#: signature plus field headers, so anything shorter authenticates nothing.
MIN_SHAPED = 48
#: Directories never entered when a folder is scanned.
SKIP_DIRS = frozenset({".git", ".venv"})
#: Inline marker that keeps a deliberate fixture on its line.
ALLOW_MARKER = b"tokentool: allow"
#: Default allowlist file name, at the repository root.
ALLOWLIST_NAME = ".tokentool-allowlist"

_LITERAL = b"pypi-"
#: The body: base64 of either alphabet, padding, and URL-encoded ``+ / =``.
_BODY = re.compile(rb"(?:[A-Za-z0-9+/_=-]|%(?:2[BbFf]|3[Dd]))*")
_PERCENT = re.compile(r"%(2[BbFf]|3[Dd])")
_UNQUOTE = {"2b": "-", "2f": "_", "3d": ""}
_TO_URLSAFE = str.maketrans({"+": "-", "/": "_", "=": None})
#: Version byte 2, then field 1 (location) or field 2 (identifier).
_MACAROON_STARTS = ("AgE", "AgI")


def canonical(body: str) -> str:
    """The one spelling of a token body: URL-decoded, base64url, unpadded."""
    body = _PERCENT.sub(lambda m: _UNQUOTE[m.group(1).lower()], body)
    return body.translate(_TO_URLSAFE)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One token found. Holds no token: a redacted form and a hash only."""

    path: str
    line: int
    column: int
    decoded: bool
    domain: str | None
    identifier: str | None
    redacted: str
    digest: str
    #: ``None`` if reported, else why not: ``"inline marker"`` or ``"allowlist"``.
    allowed: str | None = None

    @property
    def kind(self) -> str:
        return "macaroon" if self.decoded else "token-shaped"

    def describe(self) -> str:
        """``path:line:col: ...`` as compilers and editors print locations."""
        if self.decoded:
            what = (
                f"macaroon, issuer {self.domain or '(no location)'}, "
                f"identifier {self.identifier or '(empty)'}"
            )
        else:
            what = "token-shaped, not a decodable macaroon"
        return f"{self.path}:{self.line}:{self.column}: PyPI token ({what}) {self.redacted}"


@dataclasses.dataclass(frozen=True)
class ScanError:
    """A path that could not be read; the scan goes on and reports it at the end."""

    path: str
    message: str


@dataclasses.dataclass(frozen=True)
class _Decoded:
    decoded: bool
    domain: str | None
    identifier: str | None


class Allowlist:
    """SHA-256 hashes of tokens kept on purpose, one per line, ``#`` comments.

    The file never holds a token, so it can be committed next to the fixtures
    it allows.
    """

    HEADER = (
        "# tokentool scan allowlist: SHA-256 of PyPI tokens kept on purpose (test fixtures).\n"
        "# Hashes only, never a token. Add the current findings with:\n"
        "#     tokentool scan --update-allowlist\n"
    )

    def __init__(self, path: Path, lines: list[str], digests: set[str]) -> None:
        self.path = path
        self._lines = lines
        self.digests = digests

    @classmethod
    def read(cls, path: Path) -> Allowlist:
        """Load ``path``; a missing file is an empty allowlist."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, [], set())
        digests: set[str] = set()
        lines = text.splitlines(keepends=True)
        for number, line in enumerate(lines, start=1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            if not re.fullmatch(r"[0-9a-f]{64}", entry):
                raise ValueError(f"{path}:{number}: not a SHA-256 hash (64 lowercase hex digits)")
            digests.add(entry)
        return cls(path, lines, digests)

    def __contains__(self, digest: object) -> bool:
        return digest in self.digests

    def add(self, findings: Iterable[Finding]) -> int:
        """Write the hashes of ``findings`` not yet listed; existing lines stay as they are."""
        new: dict[str, Finding] = {}
        for finding in findings:
            if finding.digest not in self.digests and finding.digest not in new:
                new[finding.digest] = finding
        if not new:
            return 0
        lines = list(self._lines) or [self.HEADER]
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for digest, f in new.items():
            lines.append(f"{digest}  # {f.path}:{f.line} {f.kind} {f.domain or ''}".rstrip() + "\n")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text("".join(lines), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._lines = lines
        self.digests |= new.keys()
        return len(new)


def _decode(body: str) -> _Decoded | None:
    """What a candidate body is: a macaroon, token-shaped, or nothing (``None``)."""
    if len(body) < MIN_SHAPED:
        return None
    from tokentool import load  # only now: the CLI stays fast on clean trees

    try:
        token = load(f"pypi-{body}", strict=False)
    except Exception:  # LoadError, and anything pypitoken lets through on odd input
        token = None
    if token is not None:
        return _Decoded(True, token.domain, token.identifier)
    if body.startswith(_MACAROON_STARTS):
        return _Decoded(False, None, None)
    return None


@dataclasses.dataclass
class Scanner:
    """Scans files and folders; counts what it read and what it could not.

    ``allowlist`` holds digests; a finding whose digest is listed, or whose line
    carries :data:`ALLOW_MARKER`, is yielded with ``allowed`` set so callers can
    count it without reporting it.
    """

    allowlist: frozenset[str] | set[str] = frozenset()
    include_binary: bool = False
    files: int = 0
    bytes_read: int = 0
    binary_skipped: int = 0
    errors: list[ScanError] = dataclasses.field(default_factory=list)
    _cache: dict[str, _Decoded | None] = dataclasses.field(default_factory=dict, repr=False)

    def scan(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Finding]:
        """Files, and folders recursively (skipping :data:`SKIP_DIRS` and symlinks)."""
        for path in paths:
            name = os.fspath(path)
            if os.path.isdir(name):
                yield from self._walk(name)
            else:
                yield from self.scan_file(name)

    def _walk(self, top: str) -> Iterator[Finding]:
        try:
            with os.scandir(top) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.errors.append(ScanError(top, _reason(exc)))
            return
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        yield from self._walk(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield from self.scan_file(entry.path)
            except OSError as exc:
                self.errors.append(ScanError(entry.path, _reason(exc)))

    def scan_file(self, path: str) -> Iterator[Finding]:
        """One file, streamed in :data:`CHUNK` pieces; an unreadable file becomes an error."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self.errors.append(ScanError(path, _reason(exc)))
            return
        try:
            yield from self._scan_fd(fd, path)
        except OSError as exc:
            self.errors.append(ScanError(path, _reason(exc)))
        finally:
            os.close(fd)

    def _scan_fd(self, fd: int, path: str) -> Iterator[Finding]:
        chunk = os.read(fd, CHUNK)
        self.files += 1
        if not self.include_binary and b"\0" in chunk[:BINARY_SNIFF]:
            self.binary_skipped += 1
            return
        # A short read is not proof of the end (a pipe named on the command line).
        second = os.read(fd, CHUNK) if chunk else b""
        total = len(chunk) + len(second)
        if not second:
            # Fast path: a whole small file without the literal (nearly every file).
            if _LITERAL in chunk:
                yield from self._scan_stream(path, chunk, iter(()))
            self.bytes_read += total
            return

        def rest() -> Iterator[bytes]:
            nonlocal total
            yield second
            while data := os.read(fd, CHUNK):
                total += len(data)
                yield data

        yield from self._scan_stream(path, chunk, rest())
        self.bytes_read += total

    def _scan_stream(self, path: str, first: bytes, more: Iterator[bytes]) -> Iterator[Finding]:
        """Scan ``first`` then ``more``, each line whole when it fits in :data:`MAX_CARRY`.

        The part of the buffer after its last newline (the line still being
        read) is carried into the next round, so a token and its line's marker
        are judged together; ``line`` and ``col0`` say where the buffer starts.
        """
        line, col0 = 1, 0
        buf = first
        pending = next(more, None)
        while True:
            eof = pending is None
            if eof:
                cut = len(buf)
            else:
                newline = buf.rfind(b"\n")
                if newline >= 0 and len(buf) - newline - 1 <= MAX_CARRY:
                    cut = newline + 1
                else:
                    cut = self._safe_cut(buf, max(newline + 1, len(buf) - MAX_CARRY))
            yield from self._findings(path, buf, cut, line, col0)
            newlines = buf.count(b"\n", 0, cut)
            if newlines:
                line += newlines
                col0 = cut - (buf.rfind(b"\n", 0, cut) + 1)
            else:
                col0 += cut
            if eof:
                return
            buf = buf[cut:] + pending
            pending = next(more, None)

    @staticmethod
    def _safe_cut(buf: bytes, cut: int) -> int:
        """Move ``cut`` back so that no candidate (nor a split literal) straddles it."""
        start = buf.rfind(_LITERAL, 0, cut)
        while start >= 0:
            end = _BODY.match(buf, start + len(_LITERAL)).end()  # type: ignore[union-attr]
            if end < cut or end - start > MAX_TOKEN:
                # No candidate straddles, or one too long to be a token is
                # judged on what it has (memory stays bounded).
                break
            cut = start
            start = buf.rfind(_LITERAL, 0, cut)
        # A literal cut in half ("pyp" | "i-...") is found whole next round.
        for keep in range(len(_LITERAL) - 1, 0, -1):
            if buf.endswith(_LITERAL[:keep], 0, cut):
                return cut - keep
        return cut

    def _findings(self, path: str, buf: bytes, cut: int, line: int, col0: int) -> Iterator[Finding]:
        start = buf.find(_LITERAL, 0, cut)
        counted, line_at = 0, line
        while start >= 0:
            end = _BODY.match(buf, start + len(_LITERAL)).end()  # type: ignore[union-attr]
            body = canonical(buf[start + len(_LITERAL) : end].decode("ascii"))
            if body in self._cache:
                decoded = self._cache[body]
            else:
                decoded = self._cache[body] = _decode(body)
            if decoded is not None:
                line_at += buf.count(b"\n", counted, start)
                counted = start
                line_start = buf.rfind(b"\n", 0, start) + 1
                line_end = buf.find(b"\n", start)
                text = buf[line_start : len(buf) if line_end < 0 else line_end]
                column = len(buf[line_start:start].decode("utf-8", "replace")) + 1
                if line_start == 0:
                    column += col0
                token = f"pypi-{body}"
                digest = hashlib.sha256(token.encode("ascii")).hexdigest()
                allowed = (
                    "inline marker"
                    if ALLOW_MARKER in text
                    else "allowlist"
                    if digest in self.allowlist
                    else None
                )
                yield Finding(
                    path=path,
                    line=line_at,
                    column=column,
                    decoded=decoded.decoded,
                    domain=decoded.domain,
                    identifier=decoded.identifier,
                    redacted=_redact(token),
                    digest=digest,
                    allowed=allowed,
                )
            # Past a finding, resume after it; past a non-token, one byte on, so
            # that "pypi-server-pypi-AgE..." still finds the token inside.
            start = buf.find(_LITERAL, end if decoded is not None else start + 1, cut)


def _redact(token: str) -> str:
    from tokentool import redact

    return redact(token)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    allowlist: Iterable[str] = (),
    include_binary: bool = False,
) -> list[Finding]:
    """Every finding in ``paths`` (allowed ones included, marked); errors raise ``OSError``."""
    scanner = Scanner(allowlist=set(allowlist), include_binary=include_binary)
    findings = list(scanner.scan(paths))
    if scanner.errors:
        error = scanner.errors[0]
        raise OSError(f"cannot read {error.path}: {error.message}")
    return findings
