"""The ``tokentool`` command: a thin face over the library.

Only what a subcommand needs is imported, and only once it is chosen, so that
``tokentool restrict`` starts as fast as a bare pypitoken script.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from tokentool.cli._base import PROG, Parser, guarded, token_arg_help

#: Subcommands implemented in their own modules: name -> (module[:function], help).
#: Each has ``main(argv: list[str]) -> int`` (or the named function) and its own
#: parser, so heavy imports (waitress, twine) never touch the token commands.
DELEGATED: dict[str, tuple[str, str]] = {
    "index": ("tokentool.index.__main__", "run and manage the local stand-in for Test PyPI"),
    "scan": ("tokentool.cli.scan", "find PyPI tokens in files before they are committed"),
    "upload": (
        "tokentool.workflow._cli:upload_main",
        "build a throwaway project, upload it with a token restricted to it",
    ),
    "verify-rejection": (
        "tokentool.workflow._cli:verify_main",
        "prove the index refuses a token restricted elsewhere (exit 0 if it does)",
    ),
    "cycle": ("tokentool.workflow._cli:cycle_main", "upload, then verify-rejection"),
    "probe": (
        "tokentool.cli.probe",
        "ask an index whether it would accept the token; publishes nothing",
    ),
    "conformance": (
        "tokentool.cli.conformance",
        "ask an index whether it still answers as tokentool predicts; publishes nothing",
    ),
    "init": (
        "tokentool.cli.init",
        "write tasks.py, a .env template, .gitignore lines and the pre-commit hook; "
        "never overwrites",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Read, explain and derive restricted PyPI API tokens. " + token_arg_help(),
        epilog="Example: tokentool restrict my-project --ttl 15m < token.txt",
    )
    from tokentool import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    from tokentool.cli import tokens  # the token commands' table (not imported for scan)

    tokens.add_commands(sub)

    for name, (_module, text) in DELEGATED.items():
        delegated = sub.add_parser(name, help=text, add_help=False)
        delegated.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module, _, function = DELEGATED[argv[0]][0].partition(":")
        return int(getattr(importlib.import_module(module), function or "main")(argv[1:]))
    parser = build_parser()

    def run() -> int:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        from tokentool.cli.tokens import COMMANDS

        return COMMANDS[args.command](args, stdin)

    return guarded(run)


def entrypoint() -> NoReturn:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
