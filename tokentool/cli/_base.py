"""What every ``tokentool`` subcommand shares: one way to fail.

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

from tokentool.exceptions import TokenError

PROG = "tokentool"
#: Modules of the optional stacks -> the extra that installs them (pyproject.toml).
EXTRA_OF = {
    **dict.fromkeys(
        ("dotenv", "build", "twine", "requests", "urllib3", "invoke", "flit_core"), "upload"
    ),
    **dict.fromkeys(("waitress", "webob", "multipart", "yara_x"), "index"),
}


class UsageError(Exception):
    """Bad command-line input: reported like argparse reports its own errors."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def describe(exc: BaseException) -> tuple[str, int]:
    """The one sentence and exit code for any failure, shared by the CLI, the tasks and the demo.

    Only the toolkit's own messages (worded never to hold a token) are shown;
    any other exception is named by its type alone, because a library's
    message may quote its input, and the input may be a token.
    """
    from tokentool._safety import escape

    if isinstance(exc, (UsageError, TokenError)):
        return escape(str(exc)), 2
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        extra = EXTRA_OF.get(top)
        if extra:
            return (
                f"{top} is not installed: this needs pip install 'tokentool[{extra}]'",
                2,
            )
    if isinstance(exc, OSError):
        where = f" ({escape(exc.filename)})" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}", 2
    return f"internal error ({type(exc).__name__}); rerun with TOKENTOOL_DEBUG=1", 70


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
