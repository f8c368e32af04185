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
unless ``include_binary`` is set, but UTF-16 and UTF-32 text (a byte-order
mark, or NULs in the pattern of one of those encodings over text that decodes
cleanly) is not binary: it is decoded and scanned like any text.

Hostile input costs bounded work. A candidate body is cut at
:data:`MAX_BODY` characters, only a body starting like a V2 macaroon is ever
decoded, and every decoded candidate is reported and skipped whole, so each
byte is decoded at most once: a line of repeated ``pypi-`` is linear. Folders
are walked with an explicit stack (no recursion on depth), symlinks are never
followed inside a folder, and nothing but a regular file is opened: a FIFO, a
device or a socket named on the command line is an error, never a hang.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import hashlib
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tokentool._safety import escape

__all__ = [
    "ALLOWLIST_NAME",
    "ALLOW_MARKER",
    "FINGERPRINT_LEN",
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
#: Longest candidate body read, in bytes. No index caps a token's length, but
#: a token must fit in an HTTP ``Authorization`` header, and common servers
#: refuse a header line over 8 KiB (gunicorn's ``limit_request_field_size``
#: is 8190), which base64 of ``__token__:pypi-...`` reaches at about 6 KiB of
#: body; 16 KiB leaves room for the URL-encoded spelling. A longer run is
#: judged on its first 16 KiB (then token-shaped, at worst), which bounds the
#: work per candidate.
MAX_BODY = 1 << 14
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
#: How a V2 macaroon's base64 starts: version byte 2, then field 1 (location)
#: or 2 (identifier), whose length's top bits pick the third character
#: (E-H for a location, I-L for an identifier). Only such bodies are decoded.
_STARTS = re.compile(rb"Ag[E-L]")
#: Characters that may belong to a body, for the backward scan at a cut.
_NOT_BODY = re.compile(rb"[^A-Za-z0-9+/_=%-]")
#: The body: base64 of either alphabet, padding, and URL-encoded ``+ / =``.
_BODY = re.compile(rb"(?:[A-Za-z0-9+/_=-]|%(?:2[BbFf]|3[Dd]))*")
_PERCENT = re.compile(r"%(2[BbFf]|3[Dd])")
_UNQUOTE = {"2b": "-", "2f": "_", "3d": ""}
_TO_URLSAFE = str.maketrans({"+": "-", "/": "_", "=": None})


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
    #: In a history scan: the first commit that introduced the blob.
    commit: str | None = None

    @property
    def kind(self) -> str:
        return "macaroon" if self.decoded else "token-shaped"

    @property
    def fingerprint(self) -> str:
        """What ``--allow`` takes: the start of the allowlist hash, never the token."""
        return self.digest[:FINGERPRINT_LEN]

    def describe(self) -> str:
        """``[commit:]path:line:col: ...`` as git grep, compilers and editors print locations.

        Everything that came from outside (the path, and the issuer and
        identifier decoded from the token) is escaped: a control character in
        them must not reach a terminal.
        """
        if self.decoded:
            what = (
                f"macaroon, issuer {escape(self.domain or '(no location)')}, "
                f"identifier {escape(self.identifier or '(empty)')}"
            )
        else:
            what = "token-shaped, not a decodable macaroon"
        where = f"{self.commit[:12]}:" if self.commit else ""
        return (
            f"{where}{escape(self.path)}:{self.line}:{self.column}: PyPI token ({what}) "
            f"{self.redacted} fingerprint {self.fingerprint}"
        )


#: Hex digits of a fingerprint: 48 bits, no collision among any real set of findings.
FINGERPRINT_LEN = 12


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
        "# Hashes only, never a token. Allowing a token only stops tokentool reporting it,\n"
        "# in any file and any spelling; it does not make it harmless: a real token\n"
        "# listed here must still be revoked on the site that issued it.\n"
        "# Add one finding with: tokentool scan --allow FINGERPRINT\n"
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
            where = f"{f.commit[:12]}:" if f.commit else ""
            # Escaped: a newline in a file name must not start a line of its own.
            note = escape(f"{where}{f.path}:{f.line} {f.kind} {f.domain or ''}".rstrip())
            lines.append(f"{digest}  # {note}\n")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text("".join(lines), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._lines = lines
        self.digests |= new.keys()
        return len(new)


@functools.lru_cache(maxsize=256)
def _decode(body: str) -> _Decoded | None:
    """What a candidate body is: a macaroon, token-shaped, or nothing (``None``).

    Cached, boundedly (256 bodies of at most :data:`MAX_BODY`): the same
    fixture recurs in many files and in every version of a file in history.
    """
    if len(body) < MIN_SHAPED or not _STARTS.match(body.encode("ascii")):
        return None
    # Only now, and pymacaroons alone: the CLI stays fast on clean trees, and a
    # finding costs no pypitoken, packaging or caveat parser, which it never
    # uses. This is what ``tokentool.load(..., strict=False)`` decodes with
    # (``tokentool.token.deserialize``, warehouse's ``deserialize_raw_macaroon``)
    # and it fails exactly where ``load`` does: reading caveats leniently never
    # raises (tests/test_import_cost.py holds the two to the same answers).
    import pymacaroons

    try:
        macaroon = pymacaroons.Macaroon.deserialize(body)
        identifier = (macaroon.identifier_bytes or b"").decode("utf-8")
        domain = macaroon.location or ""
    except Exception:  # pymacaroons raises assorted types on bad input
        # Starts like a V2 macaroon but does not decode: damaged or truncated.
        return _Decoded(False, None, None)
    return _Decoded(True, domain, identifier)


#: Byte-order marks, UTF-32 first (its little-endian mark starts like UTF-16's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WHITESPACE = str.maketrans("", "", "\t\n\r\f\v")


def wide_encoding(head: bytes) -> str | None:
    """The codec of ``head`` if it is UTF-16 or UTF-32 text, else ``None``.

    A byte-order mark decides. Without one, the NULs decide: ASCII-heavy text
    in UTF-16 has a NUL in every other byte, on the side of its endianness, in
    UTF-32 three in every four; and the head must then decode strictly, with
    no U+0000 and nothing unprintable but whitespace. Real binaries fail that
    at once (lone surrogates, code points past U+10FFFF, runs of NULs); and
    at least a quarter of the characters must be ASCII, the source of the NULs.
    """
    if b"\0\0\0\0" in head:
        # Four NULs in a row hold a U+0000 in either encoding: the mark of a
        # binary (nearly every one), refused without decoding anything.
        return None
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    if b"\0" not in head:
        return None
    candidates = ["utf-32-le", "utf-32-be"]
    if b"\0\0\0" not in head:  # three would hold a U+0000 in UTF-16
        # In UTF-16 the high byte of an ASCII character is the NUL.
        odd, even = head[1::2].count(0), head[0::2].count(0)
        candidates.append("utf-16-le" if odd >= even else "utf-16-be")
    for codec in candidates:
        unit = 4 if "32" in codec else 2
        data = head[: len(head) - len(head) % unit]
        try:
            text = codecs.getincrementaldecoder(codec)("strict").decode(data)
        except UnicodeDecodeError:
            continue
        if (
            text
            and "\0" not in text
            and text.translate(_WHITESPACE).isprintable()
            # The NUL pattern comes from ASCII: without it, 2 or 4 bytes of
            # anything can pass for CJK or a supplementary plane.
            and 4 * len(text.encode("ascii", "ignore")) >= len(text)
        ):
            return codec
    return None


def _transcode(codec: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` of wide text as UTF-8, so the byte scanner reads it as any text."""
    decoder = codecs.getincrementaldecoder(codec)("replace")
    for data in chunks:
        if text := decoder.decode(data):
            yield text.encode("utf-8")
    if text := decoder.decode(b"", final=True):
        yield text.encode("utf-8")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


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
    #: Folders walked, by (device, inode): none is walked twice.
    _seen: set[tuple[int, int]] = dataclasses.field(default_factory=set, repr=False)

    def scan(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Finding]:
        """Files, and folders recursively (skipping :data:`SKIP_DIRS` and symlinks)."""
        for path in paths:
            name = os.fspath(path)
            try:
                mode = os.stat(name).st_mode
            except OSError as exc:
                self.errors.append(ScanError(name, _reason(exc)))
                continue
            if stat.S_ISDIR(mode):
                yield from self._walk(name)
            elif stat.S_ISREG(mode):
                yield from self.scan_file(name)
            else:
                # Never opened: a FIFO would block, a device never ends.
                self.errors.append(ScanError(name, f"{_kind(mode)}, not a regular file"))

    def _walk(self, top: str) -> Iterator[Finding]:
        """Depth first in name order, with a stack: no recursion, however deep the tree.

        Symlinks are not followed, so a link loop is never entered; folders
        already seen (by device and inode: a bind mount, or a folder named
        twice) are not walked again.
        """
        seen = self._seen
        stack: list[Iterator[os.DirEntry[str]]] = []

        def enter(path: str, follow: bool = False) -> None:
            try:
                st = os.stat(path, follow_symlinks=follow)
                if (st.st_dev, st.st_ino) in seen:
                    return
                seen.add((st.st_dev, st.st_ino))
                with os.scandir(path) as it:
                    stack.append(iter(sorted(it, key=lambda e: e.name)))
            except OSError as exc:
                self.errors.append(ScanError(path, _reason(exc)))

        enter(top, follow=True)  # a link named on the command line is followed
        while stack:
            for entry in stack[-1]:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIP_DIRS:
                            enter(entry.path)
                            break  # into it; this folder resumes after it
                    elif entry.is_file(follow_symlinks=False):
                        yield from self.scan_file(entry.path)
                except OSError as exc:
                    self.errors.append(ScanError(entry.path, _reason(exc)))
            else:
                stack.pop()

    def scan_file(self, path: str) -> Iterator[Finding]:
        """One regular file, streamed in :data:`CHUNK` pieces; anything else is an error."""
        try:
            # O_NONBLOCK: if a FIFO replaced the file since it was listed, the
            # open returns at once and the check below refuses it.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            self.errors.append(ScanError(path, _reason(exc)))
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.errors.append(ScanError(path, f"{_kind(st.st_mode)}, not a regular file"))
                return
            chunk = os.read(fd, CHUNK)
            if len(chunk) == st.st_size and chunk.find(b"\0", 0, BINARY_SNIFF) < 0:
                # Fast path, inlined: a whole text file (nearly every file is
                # one, and most hold no literal at all).
                self.files += 1
                self.bytes_read += len(chunk)
                if _LITERAL in chunk:
                    yield from self._scan_stream(path, chunk, iter(()))
                return
            first = [chunk]

            def read() -> bytes:
                return first.pop() if first else os.read(fd, CHUNK)

            yield from self.scan_reader(path, read, st.st_size)
        except OSError as exc:
            self.errors.append(ScanError(path, _reason(exc)))
        finally:
            os.close(fd)

    def scan_reader(
        self, path: str, read: Callable[[], bytes], size: int | None = None
    ) -> Iterator[Finding]:
        """The content ``read()`` returns, chunk by chunk until ``b""``, reported as ``path``.

        ``size``, if known, spares the read that would only confirm the end.
        Stops early on a binary (the caller drains or closes its source).
        """
        chunk = read()
        self.files += 1
        codec = None
        if chunk.find(b"\0", 0, BINARY_SNIFF) >= 0:
            codec = wide_encoding(chunk[:BINARY_SNIFF])
            if codec is None and not self.include_binary:
                self.binary_skipped += 1
                return
        # A short read is not proof of the end, unless it is all there is.
        second = read() if chunk and len(chunk) != size else b""
        total = len(chunk) + len(second)
        if not second and codec is None:
            # Fast path: a whole small file without the literal (nearly every file).
            if _LITERAL in chunk:
                yield from self._scan_stream(path, chunk, iter(()))
            self.bytes_read += total
            return

        def rest() -> Iterator[bytes]:
            nonlocal total
            if second:
                yield second
            while data := read():
                total += len(data)
                yield data

        if codec is None:
            yield from self._scan_stream(path, chunk, rest())
        else:
            text = _transcode(codec, itertools.chain((chunk,), rest()))
            yield from self._scan_stream(path, next(text, b""), text)
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
        """Move ``cut`` back so that no candidate (nor a split literal) straddles it.

        Only a literal inside the run of body characters that reaches ``cut``,
        and at most :data:`MAX_BODY` before it, can straddle: the first such
        literal becomes the cut (everything from there is judged next round).
        Bounded work: one backward look over at most ``MAX_BODY`` bytes.
        """
        low = max(0, cut - MAX_BODY - len(_LITERAL))
        tail = buf[low:cut]
        other = _NOT_BODY.search(tail[::-1])
        run = low if other is None else cut - other.start()
        start = buf.find(_LITERAL, run, cut)
        if start >= 0:
            return start
        # A literal cut in half ("pyp" | "i-...") is found whole next round.
        for keep in range(len(_LITERAL) - 1, 0, -1):
            if buf.endswith(_LITERAL[:keep], 0, cut):
                return cut - keep
        return cut

    def _findings(self, path: str, buf: bytes, cut: int, line: int, col0: int) -> Iterator[Finding]:
        """Candidates starting before ``cut``, in linear time.

        A candidate not starting like a macaroon costs three bytes of
        comparison; one that does is decoded once (body capped at
        :data:`MAX_BODY`) and skipped whole. Line, column and the line's marker
        are kept incrementally, so a long line full of findings is not rescanned
        for each.
        """
        start = buf.find(_LITERAL, 0, cut)
        # Counted up to ``pos``: ``line_at`` is its line, ``col_at`` its column
        # (characters since ``line_start``, plus ``col0`` on the buffer's first line).
        pos, line_at, line_start, col_at = 0, line, 0, col0
        marker_line, marker = -1, False
        while start >= 0:
            body_at = start + len(_LITERAL)
            if not _STARTS.match(buf, body_at):
                # "pypi-server-pypi-AgE...": one byte on still finds the token.
                start = buf.find(_LITERAL, start + 1, cut)
                continue
            end = _BODY.match(buf, body_at, body_at + MAX_BODY).end()  # type: ignore[union-attr]
            body = (
                canonical(buf[body_at:end].decode("ascii")) if end - body_at >= MIN_SHAPED else ""
            )
            decoded = _decode(body) if body else None
            if decoded is None:
                start = buf.find(_LITERAL, start + 1, cut)
                continue
            newlines = buf.count(b"\n", pos, start)
            if newlines:
                line_at += newlines
                line_start = buf.rfind(b"\n", pos, start) + 1
                pos, col_at = line_start, 0
            col_at += len(buf[pos:start].decode("utf-8", "replace"))
            pos = start
            if marker_line != line_start:
                line_end = buf.find(b"\n", start)
                marker = buf.find(ALLOW_MARKER, line_start, len(buf) if line_end < 0 else line_end)
                marker_line = line_start
            token = f"pypi-{body}"
            digest = hashlib.sha256(token.encode("ascii")).hexdigest()
            allowed = (
                "inline marker"
                if marker >= 0
                else "allowlist"
                if digest in self.allowlist
                else None
            )
            yield Finding(
                path=path,
                line=line_at,
                column=col_at + 1,
                decoded=decoded.decoded,
                domain=decoded.domain,
                identifier=decoded.identifier,
                redacted=_redact(token),
                digest=digest,
                allowed=allowed,
            )
            # Every decoded candidate is a finding, resumed after: each byte is
            # decoded at most once.
            start = buf.find(_LITERAL, end, cut)


def _redact(token: str) -> str:
    """``tokentool.redact``'s form, ``pypi-AgEN…(redacted)``, without importing its module.

    ``token`` always starts with ``pypi-`` here; tests/test_import_cost.py holds
    this to ``tokentool.redact``.
    """
    return f"{token[:9]}…(redacted)"


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
        raise OSError(f"cannot read {escape(error.path)}: {error.message}")
    return findings
