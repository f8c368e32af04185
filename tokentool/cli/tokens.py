"""The token commands: ``restrict``, ``inspect``, ``check`` and ``walkthrough``.

They share one top-level parser (built in :mod:`tokentool.cli`), so they start
without the upload or stand-in stacks; each is one ``cmd_*`` function plus one
row of ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

from tokentool._errors import UsageError
from tokentool.cli._base import read_token, token_arg_help


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The token commands' subparsers, on the top-level parser of :mod:`tokentool.cli`."""
    restrict = sub.add_parser(
        "restrict",
        help="derive a token restricted to projects, a time window or a user",
        description="Derive a narrower token offline. The derived token alone goes to\n"
        "stdout; the original and new restrictions go to stderr.\n"
        "The token is read from standard input (hidden prompt on a terminal), never from argv.",
        epilog="examples:\n"
        "  tokentool restrict my-project --ttl 15m < token.txt\n"
        "  tokentool restrict my-project < token.txt > restricted.txt\n"
        "  tokentool restrict --each repo-a repo-b --ttl 30d < token.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restrict.add_argument("projects", nargs="*", metavar="PROJECT", help="project name(s)")
    restrict.add_argument(
        "--project-id", action="append", default=[], metavar="UUID", help="project ID (repeatable)"
    )
    window = restrict.add_mutually_exclusive_group()
    window.add_argument("--ttl", metavar="DURATION", help="valid from now for e.g. 15m, 2h, 7d")
    window.add_argument(
        "--not-before", metavar="TIME", help="ISO 8601 or Unix time (with --not-after)"
    )
    restrict.add_argument("--not-after", metavar="TIME", help="ISO 8601 or Unix time")
    restrict.add_argument("--user-id", metavar="UUID", help="only usable by this user")
    restrict.add_argument(
        "--each",
        action="store_true",
        help="one token per project, printed as NAME<TAB>TOKEN lines",
    )
    restrict.add_argument("--json", action="store_true", help="machine-readable output")

    inspect = sub.add_parser(
        "inspect",
        help="explain a token (issuer, identifier, restrictions); never prints it",
        description="Explain a token without printing it. " + token_arg_help(),
    )
    inspect.add_argument("--json", action="store_true", help="machine-readable output")

    check = sub.add_parser(
        "check",
        help="would the index let the token upload to PROJECT? (exit 0 yes, 1 no, 3 undecided)",
        description="Judge the token's restrictions as Test PyPI would, without the key.\n\n"
        "exit codes:\n"
        "  0  allowed: every restriction lets an upload to PROJECT through\n"
        "  1  refused: the reasons follow on stderr, in Test PyPI's words\n"
        "  2  bad input (the token, a name, a time)\n"
        "  3  undecided: the answer depends on what only the index knows (the\n"
        "     project's ID, the uploading user's ID); give --project-id/--user-id\n\n"
        "The signature cannot be checked offline. The words of a refusal can depend on\n"
        "what only the index knows without changing the answer: the project's stored\n"
        "name, which Test PyPI quotes (--display-name), and the caveats it keeps with\n"
        "the token (--stored); a refusal says which to give for the exact words.\n"
        + token_arg_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("project", metavar="PROJECT")
    check.add_argument("--at", metavar="TIME", help="moment of the upload (default: now)")
    check.add_argument(
        "--project-id", metavar="UUID", help="the project's ID (the index's project page)"
    )
    check.add_argument("--user-id", metavar="UUID", help="the uploading user's ID")
    check.add_argument("--display-name", metavar="NAME", help="the project's stored name")
    check.add_argument(
        "--stored",
        metavar="JSON",
        help="the caveats the site keeps with the token's row, judged again after the "
        "token's own: a JSON array such as '[[3, \"USER-ID\"]]', '[]' for none "
        "(default: guessed from the token's first caveats)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser(
        "walkthrough",
        help="mint a throwaway token and show restrict, inspect and check on it",
        description="A self-contained tour: nothing is read from or sent anywhere.",
    )


def _print_restrictions(label: str, token: object, out: TextIO) -> None:
    from tokentool.token import Token

    assert isinstance(token, Token)
    summary = token.explain()["summary"]
    print(f"{label}: {'; '.join(summary) if summary else 'none'}", file=out)


def cmd_restrict(args: argparse.Namespace, stdin: TextIO | None) -> int:
    import tokentool

    if not args.projects and not (
        args.project_id or args.ttl or args.not_before or args.not_after or args.user_id
    ):
        raise UsageError("give at least one PROJECT or restriction option")
    if args.each and not args.projects:
        raise UsageError("--each needs at least one PROJECT")
    token = tokentool.load(read_token(stdin))
    options = {
        "project_ids": args.project_id,
        "ttl": args.ttl,
        "not_before": args.not_before,
        "not_after": args.not_after,
        "user_id": args.user_id,
    }
    if args.each:
        derived = [
            (name, tokentool.derive(token, project_names=[name], **options))
            for name in args.projects
        ]
        if args.json:
            rows = [{"project": n, "token": d.dump(), **d.explain()} for n, d in derived]
            sys.stdout.write(json.dumps(rows) + "\n")
        else:
            sys.stdout.write("".join(f"{n}\t{d.dump()}\n" for n, d in derived))
        return 0
    new = tokentool.derive(token, project_names=args.projects, **options)
    _print_restrictions("Original restrictions", token, sys.stderr)
    _print_restrictions("New restrictions", new, sys.stderr)
    if args.json:
        print(json.dumps({"token": new.dump(), **new.explain()}))
    else:
        print(new.dump())
    return 0


def cmd_inspect(args: argparse.Namespace, stdin: TextIO | None) -> int:
    import tokentool
    from tokentool.token._explain import format_explanation

    # Lenient: explaining a caveat Test PyPI cannot read is the point of inspect.
    info = tokentool.load(read_token(stdin), strict=False).explain()
    print(json.dumps(info, indent=2) if args.json else format_explanation(info))
    return 0


_NEEDS = {
    "project_id": ("the project's ID", "--project-id"),
    "user_id": ("the uploading user's ID", "--user-id"),
    "display_name": ("the project's stored name", "--display-name"),
    "stored": ("the caveats the site keeps with the token", "--stored"),
}
EXIT_UNDECIDED = 3


def cmd_check(args: argparse.Namespace, stdin: TextIO | None) -> int:
    import tokentool
    from tokentool.token import NEEDS_STORED
    from tokentool.token.caveats import decode_stored

    stored = None if args.stored is None else decode_stored(args.stored)
    # Lenient: a caveat Test PyPI cannot read is part of the verdict, not an input error.
    token = tokentool.load(read_token(stdin), strict=False)
    verdict = token.evaluate(
        args.project,
        at=args.at,
        project_id=args.project_id,
        user_id=args.user_id,
        display_name=args.display_name,
        stored=stored,
    )
    code = {"allowed": 0, "refused": 1}.get(verdict.outcome, EXIT_UNDECIDED)
    if args.json:
        print(json.dumps({"project": args.project, **verdict.as_data()}))
        return code
    unknown = " and ".join(_NEEDS[n][0] for n in verdict.needs if n in _NEEDS)
    options = " and ".join(_NEEDS[n][1] for n in verdict.needs if n in _NEEDS)
    if verdict.allowed:
        print(f"allowed: the restrictions let an upload to {args.project!r} through")
    elif verdict.refused:
        print(f"refused: {verdict.message}", file=sys.stderr)
        note = token.validity_note(args.at)
        if note and "token is expired" in verdict.reasons:
            print(f"({note})", file=sys.stderr)
        if not verdict.exact:
            # The outcome holds; the wording was guessed from the likeliest case.
            guesses = (*verdict.needs, *verdict.guessed)
            unknown = " and ".join(_NEEDS[n][0] for n in guesses)
            options = " and ".join(_NEEDS[n][1] for n in guesses)
            print(
                f"(not the exact words: they depend on {unknown}, which only the index "
                f"knows; give {options} for the exact words)",
                file=sys.stderr,
            )
    elif NEEDS_STORED in verdict.needs:
        print(
            "undecided: no restrictions are embedded in this token, and the site may keep "
            "restrictions for it that only the site can judge; give them with --stored, "
            "or tokentool probe asks the index",
            file=sys.stderr,
        )
    else:
        print(
            f"undecided: it depends on {unknown}, which only the index knows; give {options}",
            file=sys.stderr,
        )
    return code


def cmd_walkthrough(_args: argparse.Namespace, _stdin: TextIO | None) -> int:
    from tokentool.cli.walkthrough import run

    return run(sys.stdout)


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO | None], int]] = {
    "restrict": cmd_restrict,
    "inspect": cmd_inspect,
    "check": cmd_check,
    "walkthrough": cmd_walkthrough,
}
