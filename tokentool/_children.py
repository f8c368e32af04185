"""The environment a child process gets: only what it needs to run.

A user who exported ``TOKEN`` or ``TWINE_PASSWORD`` must not hand it to every
process the toolkit starts (the stand-in, pip, a fresh interpreter): a child
that needs no credential gets none. So children get an allowlist — where
programs and temporary files are, the locale, Python's own search path —
rather than the parent's environment minus a denylist of names someone
remembered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["child_environ"]

_KEEP = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "TEMP",
        "TMP",
        "SYSTEMROOT",
        "COMSPEC",
        "PATHEXT",
        "PYTHONPATH",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONDONTWRITEBYTECODE",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "COVERAGE_PROCESS_START",
    }
)


def child_environ(
    extra: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allowlisted part of ``environ`` (default ``os.environ``), plus ``extra``."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k in _KEEP or k.startswith("LC_")}
    env.update(extra or {})
    return env
