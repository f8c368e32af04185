"""What every ``tokentool`` subcommand shares: one way to fail (worded by ``tokentool._errors``).

Each face of the toolkit (token commands, ``scan``, ``index``) reports a bad
input as one ``tokentool: error: <sentence>`` line and exit 2, never a
traceback: a traceback's text could quote the input, and the input may be a
token.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import NoReturn, TextIO

from tokentool._errors import UsageError, describe
from tokentool.exceptions import TokenError

PROG = "tokentool"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def guarded(run: Callable[[], int]) -> int:
    """Run a command, turning every failure into one line and an exit code."""
    try:
        return run()
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to tell anyone.
        return 1
    except Exception as exc:
        if os.environ.get("TOKENTOOL_DEBUG") and not isinstance(
            exc, (UsageError, TokenError, OSError)
        ):
            raise
        return fail(*describe(exc))
    except KeyboardInterrupt as exc:
        return fail(*describe(exc))


def read_token(stdin: TextIO | None = None) -> str:
    """The token from stdin, or a hidden prompt when stdin is a terminal (never argv)."""
    stream = sys.stdin if stdin is None else stdin
    if stream is None:
        raise UsageError("no token given: pipe it on standard input")
    try:
        if stream.isatty():
            return getpass.getpass("PyPI token (input hidden): ")
        return stream.read()
    except EOFError:
        raise UsageError("no token given: standard input was closed") from None


def token_arg_help() -> str:
    """The one sentence every token-reading command puts in its --help."""
    return "The token is read from standard input (hidden prompt on a terminal), never from argv."
