"""``tokentool upload | verify-rejection | cycle | probe | conformance``: the tasks without Invoke.

The options are ``tokentool.options.COMMANDS``, the same declarations the
tasks are made from; the run is ``_run.run``, the same the tasks call. Failures
take the toolkit's one path (``tokentool: error: <sentence>``). Exit 0 when the
check passed, 1 when the index said otherwise, 2 for bad input (``probe``: its
own codes, in its ``--help``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tokentool._errors import UsageError
from tokentool.cli._base import PROG, Parser, guarded
from tokentool.options import COMMANDS, OptionError, Settings, add_arguments

__all__ = [
    "build_parser",
    "conformance_main",
    "cycle_main",
    "probe_main",
    "upload_main",
    "verify_main",
]


def build_parser(command: str) -> argparse.ArgumentParser:
    """``tokentool COMMAND``'s parser, derived from the one declaration of its options."""
    spec = COMMANDS[command]
    parser = Parser(
        prog=f"{PROG} {command}",
        description=spec.text,
        epilog=spec.epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, spec)
    return parser


def _say(line: str) -> None:
    print(line, flush=True)


def _main(command: str, argv: Sequence[str]) -> int:
    parser = build_parser(command)

    def run() -> int:
        from tokentool import workflow
        from tokentool.workflow._run import run

        try:
            settings = Settings.from_argparse(command, parser.parse_args(argv))
        except OptionError as exc:
            raise UsageError(str(exc)) from None
        failure = run(settings, workflow.find_root(), _say)
        if failure is None:
            return 0
        if failure.message:
            shown = f"{PROG}: error: {failure.message}" if failure.error else failure.message
            print(shown, file=sys.stderr)
        return failure.code

    return guarded(run)


def upload_main(argv: Sequence[str]) -> int:
    return _main("upload", argv)


def verify_main(argv: Sequence[str]) -> int:
    return _main("verify-rejection", argv)


def cycle_main(argv: Sequence[str]) -> int:
    return _main("cycle", argv)


def probe_main(argv: Sequence[str]) -> int:
    return _main("probe", argv)


def conformance_main(argv: Sequence[str]) -> int:
    return _main("conformance", argv)
