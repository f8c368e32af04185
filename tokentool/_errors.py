"""One way to fail, below every face: an exception becomes one sentence and an exit code.

The command line (``tokentool.cli``), the Invoke tasks, the workflow library
and the demo all word a failure with ``describe``, so it lives under all of
them: the library never imports the command line to learn how to fail.
"""

from __future__ import annotations

from tokentool.exceptions import TokenError

__all__ = ["EXTRA_OF", "UsageError", "describe"]

#: Modules of the optional stacks -> the extra that installs them (pyproject.toml).
EXTRA_OF = {
    **dict.fromkeys(
        ("dotenv", "build", "twine", "requests", "urllib3", "invoke", "flit_core"), "upload"
    ),
    **dict.fromkeys(("waitress", "webob", "multipart", "yara_x"), "index"),
}


class UsageError(Exception):
    """Bad command-line input: reported like argparse reports its own errors."""


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
