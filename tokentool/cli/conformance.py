"""``tokentool conformance``: does an index still answer as tokentool predicts? Publishes nothing.

A thin face over ``tokentool.conformance``. The token comes from the same
places as ``tokentool upload`` (TOKEN, .env, keyring, ~/.pypirc,
TWINE_PASSWORD), never from argv.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tokentool.cli._base import PROG, Parser, guarded
from tokentool.probe import CONNECT_TIMEOUT, READ_TIMEOUT

EPILOG = """\
exit codes:
  0  every answer as predicted
  1  at least one answer differs (the table says which, and how)
  2  bad input (arguments, the token, a destination the token may not go to)
  3  it could not run: the project does not exist, or the index could not be reached
  4  SECURITY: the index accepted a token it must refuse

Every question is refused by warehouse before anything is stored or created:
no project is created and nothing is published (tokentool.conformance explains
the order). At most 20 requests and 1 MiB in all. Production pypi.org only
with --allow-production.

example:
  tokentool conformance --repository-url https://test.pypi.org/legacy/ --project my-project
"""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}")
    return value


def build_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} conformance",
        description="Ask an index a fixed set of questions (no credentials, an unknown\n"
        "token, a broken signature, tokens restricted elsewhere, expired, not yet\n"
        "valid or for another user, a wrong digest, an unsupported metadata version,\n"
        "a misnamed file, no :action, the JSON API and PEP 691) and compare each\n"
        "answer, status and words, with what tokentool predicts Test PyPI answers.\n"
        "The token comes from TOKEN, .env, keyring, ~/.pypirc or TWINE_PASSWORD.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repository-url",
        metavar="URL",
        help="upload URL, as twine's option (default: REPOSITORY_URL, else Test PyPI)",
    )
    parser.add_argument(
        "-p", "--project", required=True, help="an existing project the token may upload to"
    )
    parser.add_argument("--json", action="store_true", help='print {"cases": [...]}')
    parser.add_argument(
        "--allow-production", action="store_true", help="ask production pypi.org too"
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
        type=_seconds,
        default=READ_TIMEOUT,
        metavar="SECONDS",
        help="seconds to wait for each answer (default: %(default)g)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return guarded(lambda: _run(parser.parse_args(list(sys.argv[1:] if argv is None else argv))))


def _run(args: argparse.Namespace) -> int:
    from tokentool import conformance, workflow

    config = workflow.settings(workflow.find_root(), args.repository_url)
    report = conformance.conformance(
        config.index_url,
        config.token,
        args.project,
        allow_production=args.allow_production,
        allow_other_host=args.allow_other_host,
        timeout=(args.connect_timeout, args.read_timeout),
        progress=None if args.json else lambda line: print(line, file=sys.stderr),
    )
    print(conformance.render(report, as_json=args.json))
    return report.exit_code
