"""``tokentool audit``: a stored token against a least-privilege policy, offline.

A thin face over ``tokentool.token.audit``. Exit 0 when every check passes,
1 otherwise (one line per reason; undecided is not a pass), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import tokentool
from tokentool.cli._base import PROG, Parser, guarded, read_token
from tokentool.token.audit import ISSUERS, Policy, audit

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=f"{PROG} audit",
        description="Check a stored token against a least-privilege policy, offline. The token "
        "is read from standard input (hidden prompt on a terminal), never from argv.",
        epilog="exit codes: 0 the token satisfies the policy; 1 it does not (one line per "
        "reason; a restriction only the index can decide is reported as undecided, not as a "
        "pass); 2 bad input. An expired token always fails.\n\n"
        "example (CI): printenv PYPI_TOKEN | tokentool audit --require-project my-project "
        "--max-ttl 30d --issuer pypi.org",
    )
    parser.add_argument(
        "--require-project",
        action="append",
        default=[],
        metavar="NAME",
        help="the token may upload only to these projects (repeatable)",
    )
    parser.add_argument(
        "--max-ttl",
        metavar="DURATION",
        help="it must expire within this time from now, e.g. 15m, 2h, 30d",
    )
    parser.add_argument("--issuer", choices=ISSUERS, help="the site that must have issued it")
    parser.add_argument(
        "--forbid-user-wide",
        action="store_true",
        help="refuse a token that can upload to every project of its user",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    policy = Policy(
        require_projects=tuple(args.require_project),
        max_ttl=tokentool.parse_duration(args.max_ttl) if args.max_ttl else None,
        issuer=args.issuer,
        forbid_user_wide=args.forbid_user_wide,
    )
    for name in policy.require_projects:
        tokentool.normalize_project(name)
    # Lenient as check is: a caveat the site cannot read is judged, not an input error.
    token = tokentool.load(read_token(None), strict=False)
    findings = audit(token, policy)
    if args.json:
        data = {
            "ok": not findings,
            "issuer": token.issuer,
            "identifier": token.identifier,
            "findings": [f.as_data() for f in findings],
        }
        print(json.dumps(data))
    elif findings:
        for finding in findings:
            print(f"{finding.outcome}: {finding.check}: {finding.reason}")
    else:
        print("ok: the token satisfies the policy")
    return 1 if findings else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return guarded(lambda: _run(parser, list(sys.argv[1:] if argv is None else argv)))
