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
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tokentool._cli import Parser, UsageError, guarded
from tokentool.scan import ALLOW_MARKER, ALLOWLIST_NAME, Allowlist, Finding, Scanner

PROG = "tokentool scan"

EPILOG = f"""\
What counts: the literal "pypi-" followed by base64 (either alphabet, with or
without "=" padding, "%2B %2F %3D" URL-encoded) that decodes as a V2 macaroon
(any issuer: pypi.org, test.pypi.org, a private index, localhost), or that
starts like one ("AgE"/"AgI") and is long enough to be a damaged token. A bare
"pypi-", prose such as "pypi-server" and the documented token prefixes are not
reported. The token itself is never printed: only "pypi-AgEN…(redacted)".

Keeping a fixture on purpose: put "{ALLOW_MARKER.decode()}" on its line, or
record its hash with --update-allowlist (the file holds SHA-256 hashes only).

Exit status: 0 nothing found, 1 token(s) found, 2 error (e.g. unreadable path).

As a pre-commit hook (any repository):
  - repo: <this project's URL>
    rev: <tag>
    hooks: [{{id: no-pypi-tokens}}]
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Find PyPI API tokens of every issuer in files, without printing them.\n"
        "With no PATH, scans the files git tracks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files and folders (folders recursively, skipping .git, .venv, binary files "
        "and symlinks); default: the files git tracks",
    )
    parser.add_argument(
        "--allowlist",
        metavar="FILE",
        type=Path,
        help=f"hashes of tokens kept on purpose (default: {ALLOWLIST_NAME} at the "
        "repository root, or in the current folder outside a repository)",
    )
    parser.add_argument(
        "--update-allowlist",
        action="store_true",
        help="add the hashes of every token found to the allowlist (never the tokens) "
        "and exit 0; existing entries and comments are kept",
    )
    parser.add_argument(
        "--include-binary",
        action="store_true",
        help="also scan binary files (a NUL byte in the first 8000 bytes)",
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


def run(args: argparse.Namespace) -> int:
    cwd = Path.cwd()
    root = _repo_root(cwd)
    if args.paths:
        paths: list[str] = args.paths
    elif root is None:
        raise UsageError("no PATH given and not inside a git repository")
    else:
        paths = list(_tracked_files(root))
    allowlist_path = args.allowlist or (root or cwd) / ALLOWLIST_NAME
    try:
        allowlist = Allowlist.read(allowlist_path)
    except ValueError as exc:
        raise UsageError(f"bad allowlist {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read allowlist {allowlist_path}: {exc}") from None

    scanner = Scanner(allowlist=allowlist.digests, include_binary=args.include_binary)
    reported: list[Finding] = []
    kept: list[Finding] = []
    for finding in scanner.scan(paths):
        if finding.allowed is None:
            reported.append(finding)
            if not args.update_allowlist:
                print(finding.describe(), flush=True)
        else:
            kept.append(finding)
            if args.show_allowed:
                print(f"{finding.describe()} [allowed: {finding.allowed}]", flush=True)
    for error in scanner.errors:
        print(f"tokentool: error: cannot read {error.path}: {error.message}", file=sys.stderr)

    if args.update_allowlist:
        try:
            added = allowlist.add(reported)
        except OSError as exc:
            raise UsageError(f"cannot write allowlist {allowlist_path}: {exc.strerror}") from None
        print(
            f"tokentool: {allowlist_path}: added {added} hash(es) "
            f"({len(allowlist.digests)} in all)",
            file=sys.stderr,
        )
        return 2 if scanner.errors else 0

    if not args.quiet:
        mib = scanner.bytes_read / (1 << 20)
        files = len({f.path for f in reported})
        summary = (
            f"tokentool: {len(reported)} PyPI token(s) found in {files} file(s)"
            if reported
            else "tokentool: no PyPI token found"
        )
        print(
            f"{summary}; {len(kept)} allowed; scanned {scanner.files} file(s), {mib:.1f} MiB"
            f" ({scanner.binary_skipped} binary skipped).",
            file=sys.stderr,
        )
        if reported:
            print(
                "tokentool: remove them and revoke them on the issuing site; keep a deliberate "
                f'fixture with "{ALLOW_MARKER.decode()}" on its line or --update-allowlist.',
                file=sys.stderr,
            )
    if scanner.errors:
        return 2
    return 1 if reported else 0


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
