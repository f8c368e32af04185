"""What every ``tokentool`` subcommand shares: one way to fail.

Each face of the toolkit (token commands, ``scan``, ``index``) reports a bad
input as one ``tokentool: error: <sentence>`` line and exit 2, never a
traceback: a traceback's text could quote the input, and the input may be a
token.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from tokentool.exceptions import TokenError

PROG = "tokentool"


class UsageError(Exception):
    """Bad command-line input: reported like argparse reports its own errors."""


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
    except (UsageError, TokenError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to tell anyone.
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return fail(f"{exc.strerror or type(exc).__name__}{where}")
    except Exception as exc:
        if os.environ.get("TOKENTOOL_DEBUG"):
            raise
        return fail(f"internal error ({type(exc).__name__}); rerun with TOKENTOOL_DEBUG=1", 70)
