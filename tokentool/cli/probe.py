"""``tokentool probe``: will my token work on this index? Nothing is published.

A thin face over ``tokentool.probe`` (its ``probe`` and its one printer,
``describe``); where the token may go is ``tokentool.sites``, as for every
command. The token comes from standard input (a hidden prompt on a terminal),
never from argv.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tokentool.cli._base import Parser, guarded
from tokentool.probe import CONNECT_TIMEOUT, READ_TIMEOUT

PROG = "tokentool probe"

EPILOG = """\
exit codes:
  0  accepted: the index would take an upload of this file with this token
  1  refused: the index's reason follows, named (token scope or signature,
     unknown token, no role on the project, unverified e-mail, no 2FA, the
     new-project rate limit, a name the index does not allow, uploads disabled)
  2  bad input (arguments, the token, the file)
  3  inconclusive: the index cannot be probed (it does not judge tokens before
     files as warehouse does, cannot be reached, or the project does not exist)
  4  SECURITY: with --expect-refusal, the index accepted the token

How: the real file is uploaded with a deliberately wrong digest. Warehouse
judges the token before the file, so a refusal comes back as it would for a
real upload, and an acceptance as "400 The digest supplied does not match",
with nothing published. Two controls (an unknown token, the token with a broken
signature) first prove that the index judges in that order. A project that does
not exist is not probed: warehouse would create it first and count it against
the new-project limit (--allow-new-project to probe anyway).

example:
  tokentool probe my-project --repository-url https://test.pypi.org/legacy/ \\
      --file dist/my_project-1.0-py3-none-any.whl < token.txt
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Ask an index whether it would accept the token for an upload to PROJECT, "
        "without publishing or creating anything. The token is read from standard input "
        "(hidden prompt on a terminal), never from argv.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("project", metavar="PROJECT")
    parser.add_argument(
        "--repository-url", required=True, metavar="URL", help="upload URL, e.g. .../legacy/"
    )
    parser.add_argument(
        "--file", required=True, type=Path, metavar="DIST", help="a real distribution of PROJECT"
    )
    parser.add_argument(
        "--expect-refusal", action="store_true", help="an acceptance is a SECURITY failure"
    )
    parser.add_argument(
        "--allow-new-project",
        action="store_true",
        help="probe even if PROJECT does not exist (may spend new-project quota)",
    )
    parser.add_argument(
        "--allow-other-host",
        action="store_true",
        help="send a private index's token to a host other than the one it names",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=CONNECT_TIMEOUT,
        metavar="SECONDS",
        help="seconds to wait for a connection (default: %(default)g)",
    )
    parser.add_argument(
        "--read-timeout",
        "--timeout",
        dest="read_timeout",
        type=_seconds,
        default=READ_TIMEOUT,
        metavar="SECONDS",
        help="seconds to wait for each answer (default: %(default)g); --timeout is its old name",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return guarded(lambda: _run(parser, list(sys.argv[1:] if argv is None else argv)))


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    from tokentool import probe
    from tokentool.cli._base import read_token

    token = read_token(None)
    result = probe.probe(
        args.repository_url,
        token,
        args.project,
        args.file,
        expect_refusal=args.expect_refusal,
        check_exists=not args.allow_new_project,
        allow_other_host=args.allow_other_host,
        timeout=(args.connect_timeout, args.read_timeout),
    )
    if args.json:
        print(json.dumps(result.as_data()))
    else:
        line = probe.describe(result, args.project)
        print(line, file=sys.stdout if result.exit_code == 0 else sys.stderr)
    return result.exit_code
