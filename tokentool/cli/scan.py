"""``tokentool scan``: the command face of :mod:`tokentool.scan`, and the pre-commit hook.

Findings go to stdout (one ``path:line:col: ...`` line each, redacted), the
summary and errors to stderr, so ``tokentool scan > report.txt`` stays clean.
Exit status: 0 clean, 1 a token was found, 2 a path could not be read or the
input was bad (errors win: a scan that could not read everything proves
nothing about what it skipped).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tokentool._errors import UsageError
from tokentool._safety import escape
from tokentool.cli._base import Parser, guarded
from tokentool.scan import (
    ALLOW_MARKER,
    ALLOWLIST_NAME,
    FINGERPRINT_LEN,
    Allowlist,
    Finding,
    Scanner,
)
from tokentool.scan._history import HistoryError, HistoryStats, scan_history

PROG = "tokentool scan"

EPILOG = f"""\
What counts: the literal "pypi-" followed by base64 (either alphabet, with or
without "=" padding, "%2B %2F %3D" URL-encoded) that decodes as a V2 macaroon
(any issuer: pypi.org, test.pypi.org, a private index, localhost), or that
starts like one ("AgE"/"AgI"...) and is long enough to be a damaged token. A
bare "pypi-", prose such as "pypi-server" and the documented token prefixes
are not reported. The token itself is never printed: only
"pypi-AgEN…(redacted)" and a fingerprint (the start of its SHA-256).

Keeping a fixture on purpose: put "{ALLOW_MARKER.decode()}" on its line, or
allow that one finding with --allow FINGERPRINT (written to the allowlist,
which holds SHA-256 hashes only: commit it). Allowing only stops the report:
a real token stays valid until it is revoked on the site that issued it.

History: --history scans every version of every file ever committed (all
refs, or the given REV-RANGE such as main~50..main), each blob once, and
names the commit that introduced each token. A token in history is in every
clone: revoke it; rewriting history does not take it back.

Exit status: 0 nothing found, 1 token(s) found, 2 error (e.g. unreadable path).

As a pre-commit hook (any repository; it scans what is staged):
  - repo: <this project's URL, or the path of a clone>
    rev: <the full commit SHA you reviewed>
    hooks: [{{id: no-pypi-tokens, args: [--allow=FINGERPRINT]}}]
Under pre-commit (which sets PRE_COMMIT=1, or with --hook) a batch with
nothing to report prints nothing (pre-commit runs the scanner once per batch
of files), and --allow only keeps those findings from failing the commit:
nothing is written, and a fingerprint no staged file holds is no error.
"""

#: What the terminal user types to allow every finding at once.
CONFIRM = "allow all"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Find PyPI API tokens of every issuer in files or in git history, "
        "without printing them.\nWith no PATH, scans the files git tracks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files and folders (folders recursively, skipping .git, .venv, binary files "
        "and symlinks); default: the files git tracks. With --history: revisions "
        "(REV-RANGE, e.g. main~50..main; default: all refs)",
    )
    parser.add_argument(
        "--history",
        action="store_true",
        help="scan every blob in the git history instead of files, each blob once, "
        "reporting the commit that introduced each token",
    )
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="with --history: only commits more recent than DATE (as git log --since)",
    )
    parser.add_argument(
        "--allowlist",
        metavar="FILE",
        type=Path,
        help=f"hashes of tokens kept on purpose (default: {ALLOWLIST_NAME} at the "
        "repository root, or in the current folder outside a repository)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="FINGERPRINT[,FINGERPRINT...]",
        help="add exactly these findings (by the fingerprint each finding shows) to the "
        "allowlist; nothing is written unless every fingerprint is found. Repeatable; "
        "one value each (--allow=FP in a hook's args). Under pre-commit: only keeps them "
        "from failing the commit",
    )
    parser.add_argument(
        "--hook",
        action="store_true",
        help="run as a pre-commit hook (the default when PRE_COMMIT=1, as pre-commit sets): "
        "silent on a clean batch; --allow writes nothing",
    )
    parser.add_argument(
        "--update-allowlist",
        action="store_true",
        help=f'allow every token found, after typing "{CONFIRM}" on a terminal '
        "(refused without one: use --allow)",
    )
    parser.add_argument(
        "--include-binary",
        action="store_true",
        help="also scan binary files (a NUL byte in the first 8000 bytes; UTF-16 and "
        "UTF-32 text is scanned anyway)",
    )
    parser.add_argument(
        "--show-allowed",
        action="store_true",
        help="also list findings kept by the allowlist or an inline marker",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    return parser


def _repo_root(start: Path) -> Path | None:
    """The enclosing work tree, found without starting git (the hook runs per commit)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _tracked_files(root: Path) -> Iterator[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UsageError(f"could not list the files git tracks ({type(exc).__name__})") from None
    for name in out.decode("utf-8", "surrogateescape").split("\0"):
        path = root / name
        # Deleted but still in the index, or a submodule: nothing to read here.
        if name and path.is_file():
            yield os.path.relpath(path)


def _fingerprints(values: list[str]) -> list[str]:
    wanted = []
    for value in values:
        for part in value.split(","):
            fingerprint = part.strip().lower()
            if not re.fullmatch(f"[0-9a-f]{{{FINGERPRINT_LEN},64}}", fingerprint):
                raise UsageError(
                    f"--allow: not a fingerprint: {escape(part)!r} ({FINGERPRINT_LEN} hex "
                    "digits, as printed after 'fingerprint' in a finding; in a pre-commit "
                    "hook's args, one item: --allow=FINGERPRINT[,FINGERPRINT...])"
                )
            wanted.append(fingerprint)
    return wanted


def _as_hook(args: argparse.Namespace) -> bool:
    """pre-commit sets PRE_COMMIT=1 for every hook it runs (pre-commit run.py)."""
    return bool(args.hook) or os.environ.get("PRE_COMMIT") == "1"


def _confirmed(count: int) -> bool:
    """Ask on the terminal; anything but the exact phrase is a no."""
    sys.stderr.write(
        f"tokentool: allow ALL {count} token(s) listed above? The scanner will stop "
        "reporting them; a real one stays valid until revoked.\n"
        f'Type "{CONFIRM}" to confirm: '
    )
    sys.stderr.flush()
    return sys.stdin.readline().strip() == CONFIRM


def run(args: argparse.Namespace) -> int:
    cwd = Path.cwd()
    root = _repo_root(cwd)
    wanted = _fingerprints(args.allow)
    hook = _as_hook(args)
    if args.since is not None and not args.history:
        raise UsageError("--since only applies with --history")
    if args.update_allowlist and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(
            "--update-allowlist allows every finding at once and needs a confirmation "
            "on a terminal; allow findings one by one with --allow FINGERPRINT"
        )
    allowlist_path = args.allowlist or (root or cwd) / ALLOWLIST_NAME
    try:
        allowlist = Allowlist.read(allowlist_path)
    except ValueError as exc:
        raise UsageError(f"bad allowlist {escape(str(exc))}") from None
    except (OSError, UnicodeDecodeError) as exc:
        where = escape(str(allowlist_path))
        raise UsageError(f"cannot read allowlist {where}: {escape(str(exc))}") from None

    scanner = Scanner(allowlist=allowlist.digests, include_binary=args.include_binary)
    stats = HistoryStats()
    if args.history:
        findings = scan_history(scanner, args.paths, since=args.since, stats=stats)
    elif args.paths:
        findings = scanner.scan(args.paths)
    elif root is None:
        raise UsageError("no PATH given and not inside a git repository")
    else:
        findings = scanner.scan(list(_tracked_files(root)))

    reported: list[Finding] = []
    kept: list[Finding] = []
    to_allow: list[Finding] = []
    matched: set[str] = set()
    try:
        for finding in findings:
            hits = {w for w in wanted if finding.digest.startswith(w)}
            matched |= hits
            if finding.allowed is None and hits:
                to_allow.append(finding)
            elif finding.allowed is None:
                reported.append(finding)
                print(finding.describe(), flush=True)
            else:
                kept.append(finding)
                if args.show_allowed:
                    print(f"{finding.describe()} [allowed: {finding.allowed}]", flush=True)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    for error in scanner.errors:
        print(
            f"tokentool: error: cannot read {escape(error.path)}: {error.message}",
            file=sys.stderr,
        )

    if wanted and hook:
        # From the hook's config: this run only. Each batch sees some of the staged
        # files, and a hook must not write files pre-commit would then see changed.
        kept += to_allow
    elif wanted:
        missing = [w for w in wanted if w not in matched]
        if missing:
            raise UsageError(
                f"no finding has fingerprint {', '.join(missing)}; nothing allowed "
                "(scan the same paths the finding came from)"
            )
        _allow(allowlist, to_allow)
        kept += to_allow
    if args.update_allowlist and reported:
        if _confirmed(len(reported)):
            _allow(allowlist, reported)
            kept += reported
            reported = []
        else:
            print("tokentool: nothing allowed.", file=sys.stderr)

    # pre-commit runs the hook once per batch of files and shows every batch's
    # output when one fails: a clean batch's "no PyPI token found" would sit right
    # above another batch's finding.
    if not args.quiet and not (hook and not reported and not scanner.errors):
        _summary(args, scanner, stats, reported, kept, hook)
    if scanner.errors:
        return 2
    return 1 if reported else 0


def _allow(allowlist: Allowlist, findings: list[Finding]) -> None:
    try:
        added = allowlist.add(findings)
    except OSError as exc:
        where = escape(str(allowlist.path))
        raise UsageError(f"cannot write allowlist {where}: {exc.strerror}") from None
    print(
        f"tokentool: {escape(str(allowlist.path))}: allowed {added} token(s) "
        f"({len(allowlist.digests)} in all). Allowing only stops tokentool reporting a "
        "token, in any file and any spelling; if one was ever real, revoke it on the site "
        "that issued it.",
        file=sys.stderr,
    )


def _summary(
    args: argparse.Namespace,
    scanner: Scanner,
    stats: HistoryStats,
    reported: list[Finding],
    kept: list[Finding],
    hook: bool,
) -> None:
    mib = scanner.bytes_read / (1 << 20)
    if args.history:
        where = "in history"
        scanned = f"{stats.commits} commit(s), {stats.blobs} blob(s)"
    else:
        where = f"in {len({f.path for f in reported})} file(s)"
        scanned = f"{scanner.files} file(s)" + (" in this batch" if hook else "")
    summary = (
        f"tokentool: {len(reported)} PyPI token(s) found {where}"
        if reported
        else "tokentool: no PyPI token found"
    )
    print(
        f"{summary}; {len(kept)} allowed; scanned {scanned}, {mib:.1f} MiB"
        f" ({scanner.binary_skipped} binary skipped).",
        file=sys.stderr,
    )
    if reported:
        revoke = (
            "revoke them on the issuing site (every clone holds the history; "
            "rewriting it does not take a token back)"
            if args.history
            else "remove them and revoke them on the issuing site"
        )
        how = (
            "add it to the hook's args in .pre-commit-config.yaml as --allow=FINGERPRINT "
            "(or run tokentool scan --allow FINGERPRINT once and commit the allowlist)"
            if hook
            else "--allow FINGERPRINT"
        )
        print(
            f"tokentool: {revoke}; keep a deliberate fixture with "
            f'"{ALLOW_MARKER.decode()}" on its line, or allow that one finding with {how}.',
            file=sys.stderr,
        )


def main(argv: list[str]) -> int:
    for stream in (sys.stdout, sys.stderr):
        # File names need not be valid UTF-8; a report must never die on one.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    return guarded(lambda: run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
