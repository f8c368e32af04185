"""Scan every blob of a git history once, with the commit that introduced it.

Most leaks live in history: a token committed then deleted is still in every
clone. Checking out each commit would read the same files thousands of
times; instead three git plumbing processes run side by side, whatever the
size of the history:

- ``git rev-list --reverse --topo-order REVS`` lists the commits, oldest first;
- ``git diff-tree --stdin -r -c --root -z`` (fed by rev-list directly) says,
  for each commit, which blobs it wrote and where (``-c``: a merge shows only
  what differs from every parent, i.e. what the merge itself wrote);
- ``git cat-file --batch`` streams the content of each blob, asked once, the
  first time one is seen: so the commit and path reported are those that
  introduced it, and a blob held by a thousand commits is read once.

Every blob reachable from REVS (and not from an excluded ``^REV``) was
written by some commit in that range, so all are read. Findings are
reported once per (token, path): a token kept in a file through a thousand
edits is one finding, at its first commit.
"""

from __future__ import annotations

import collections
import dataclasses
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from tokentool._safety import escape
from tokentool.scan import CHUNK, Finding, Scanner

__all__ = ["HistoryError", "HistoryStats", "scan_history"]


class HistoryError(Exception):
    """git could not list or read the history (bad revision, not a repository)."""


@dataclasses.dataclass
class HistoryStats:
    commits: int = 0
    blobs: int = 0


def _check_revs(revs: Sequence[str]) -> None:
    for rev in revs:
        if not rev or rev.startswith("-"):
            # Would reach git as an option (e.g. --output=FILE).
            raise HistoryError(f"not a revision: {escape(rev)!r}")


def scan_history(
    scanner: Scanner,
    revs: Sequence[str] = (),
    *,
    since: str | None = None,
    cwd: Path | None = None,
    stats: HistoryStats | None = None,
) -> Iterator[Finding]:
    """Findings in every blob written by the commits of ``revs`` (default: all refs)."""
    _check_revs(revs)
    stats = stats if stats is not None else HistoryStats()
    rev_list = ["git", "rev-list", "--reverse", "--topo-order"]
    if since is not None:
        rev_list.append(f"--since={since}")
    rev_list += list(revs) if revs else ["--all"]
    diff_tree = ["git", "diff-tree", "--stdin", "-r", "-c", "--root", "--no-renames", "-z"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        lister = subprocess.Popen(
            rev_list,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        procs.append(lister)
        differ = subprocess.Popen(
            diff_tree, cwd=cwd, stdin=lister.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        procs.append(differ)
        assert lister.stdout is not None
        lister.stdout.close()  # differ holds it now; rev-list sees EPIPE if differ dies
        reader = subprocess.Popen(
            ["git", "cat-file", "--batch", "--buffer"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=CHUNK,
        )
        procs.append(reader)
    except OSError as exc:
        _stop(procs)
        raise HistoryError(f"cannot run git ({exc.strerror or type(exc).__name__})") from None

    assert differ.stdout is not None and reader.stdin is not None and reader.stdout is not None
    # (blob, commit, path) in the order cat-file will answer.
    asked: collections.deque[tuple[bytes, str, str]] = collections.deque()
    feeder_error: list[BaseException] = []
    feeder = threading.Thread(
        target=_feed,
        args=(differ.stdout, reader.stdin, asked, stats, feeder_error),
        daemon=True,
    )
    feeder.start()
    reported: set[tuple[str, str]] = set()
    try:
        yield from _read_blobs(scanner, reader.stdout, asked, reported, stats)
        feeder.join()
        for proc in procs:
            proc.wait()
    finally:
        # Still running only if the scan stopped early (an error, ^C, a closed pipe).
        _stop(procs)
        feeder.join(timeout=5)
    for proc, name in ((lister, "rev-list"), (differ, "diff-tree"), (reader, "cat-file")):
        if proc.returncode:
            assert proc.stderr is not None
            said = proc.stderr.read(4096).decode("utf-8", "replace").strip().splitlines()
            raise HistoryError(f"git {name} failed: {escape(said[0] if said else '')}".rstrip())
    if feeder_error:
        raise HistoryError(f"reading git diff-tree failed ({type(feeder_error[0]).__name__})")


def _feed(
    source: IO[bytes],
    sink: IO[bytes],
    asked: collections.deque[tuple[bytes, str, str]],
    stats: HistoryStats,
    errors: list[BaseException],
) -> None:
    """Parse diff-tree's output; ask cat-file for each blob the first time it appears.

    A thread of its own: cat-file's input and output are both pipes, and one
    thread writing the one while the other reads the other cannot deadlock.
    """
    seen: set[bytes] = set()
    commit = ""
    # Flushed after each block read: cat-file works on the blobs of one block
    # while diff-tree computes the next, instead of waiting for the end.
    fields = _fields(source, sink.flush)
    try:
        for field in fields:
            if not field.startswith(b":"):
                commit = field.split(b" ", 1)[0].decode("ascii")
                stats.commits += 1
                continue
            # ":mode... oid... status"; with -c, one mode and oid per parent plus the result.
            parts = field[field.rfind(b":") + 1 :].split()
            path = next(fields, b"")
            n = (len(parts) - 1) // 2
            mode, oid = parts[n - 1], parts[2 * n - 1]
            # 100644/100755 files and 120000 symlinks; not 160000 submodules.
            if not oid.strip(b"0") or not mode.startswith((b"10", b"12")):
                continue
            key = bytes.fromhex(oid.decode("ascii"))
            if key in seen:
                continue
            seen.add(key)
            asked.append((oid, commit, path.decode("utf-8", "surrogateescape")))
            sink.write(oid + b"\n")
        sink.close()
    except BrokenPipeError:
        pass  # the reader stopped early (an error, or the consumer gave up)
    except BaseException as exc:
        errors.append(exc)
        try:
            sink.close()
        except OSError:
            pass


def _fields(source: IO[bytes], after_block: Callable[[], None]) -> Iterator[bytes]:
    """NUL-terminated fields of ``source``, read as they come, in blocks."""
    rest = b""
    while block := source.read1(CHUNK):  # type: ignore[attr-defined]
        parts = (rest + block).split(b"\0")
        rest = parts.pop()
        yield from parts
        after_block()
    if rest:
        yield rest


def _read_blobs(
    scanner: Scanner,
    out: IO[bytes],
    asked: collections.deque[tuple[bytes, str, str]],
    reported: set[tuple[str, str]],
    stats: HistoryStats,
) -> Iterator[Finding]:
    while header := out.readline():
        oid, kind, *size_field = header.split()
        expected, commit, path = asked.popleft()
        if oid != expected or kind != b"blob" or not size_field:
            raise HistoryError(f"git cat-file answered out of order for {escape(path)}")
        left = int(size_field[0])
        stats.blobs += 1

        def read() -> bytes:
            nonlocal left
            if left <= 0:
                return b""
            data = out.read(min(left, CHUNK))
            if not data:
                raise HistoryError("git cat-file stopped in the middle of a blob")
            left -= len(data)
            return data

        for finding in scanner.scan_reader(path, read):
            key = (finding.digest, path)
            if key in reported:
                continue
            reported.add(key)
            yield dataclasses.replace(finding, commit=commit)
        while read():  # what the scanner did not need (a binary)
            pass
        out.read(1)  # the newline after each blob


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
