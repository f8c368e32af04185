"""The derive step of the GitHub Action (``action.yml``): a short-lived project token for a job.

Run by the action as ``python -m tokentool.github_action`` with everything in
the environment, never in argv (where the runner's process list and debug
logs would show it):

- ``TOKENTOOL_TOKEN``: the stored secret (the ``token`` input);
- ``TOKENTOOL_PROJECTS``: one project name per line (``project``);
- ``TOKENTOOL_TTL``: how long the derived token lives (``ttl``, default 15m);
- ``TOKENTOOL_EXPORT``: the variable later steps get it in (``export``);
- ``GITHUB_ENV``, ``GITHUB_OUTPUT``: the runner's files.

Order matters: the derived token is masked (``::add-mask::``) before anything
else is printed or written, then appended to ``$GITHUB_ENV`` with a heredoc
delimiter that cannot occur in it; ``expires-at`` and ``restrictions`` go to
``$GITHUB_OUTPUT``. The token is derived offline: nothing is sent anywhere.
Failures are one ``::error::`` line naming what is wrong, never a value.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import uuid
from collections.abc import Mapping
from typing import TextIO

import tokentool
from tokentool._safety import escape
from tokentool.exceptions import TokenError
from tokentool.options import DEFAULT_TTL

__all__ = ["main", "run"]

#: What a variable handed to later steps may be called (a shell variable name)...
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: ... except what would change how later steps run or what the runner does.
_FORBIDDEN = frozenset(
    {"PATH", "BASH_ENV", "ENV", "LD_PRELOAD", "LD_LIBRARY_PATH", "NODE_OPTIONS", "PYTHONPATH"}
)


class ActionError(Exception):
    """One sentence for the ``::error::`` line."""


def _command_value(text: str) -> str:
    """A workflow command's data, escaped as the runner reads it (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _delimiter(*values: str) -> str:
    """A heredoc delimiter no value contains (as actions/toolkit's ``ghadelimiter_<uuid>``)."""
    while True:
        candidate = f"ghadelimiter_{uuid.uuid4()}"
        if not any(candidate in v for v in values):
            return candidate


def _append(path: str | None, name: str, value: str, what: str) -> None:
    if not path:
        raise ActionError(f"{what} is not set: this step runs only inside a GitHub Actions job")
    delimiter = _delimiter(name, value)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def _inputs(environ: Mapping[str, str]) -> tuple[str, list[str], int, str]:
    raw = environ.get("TOKENTOOL_TOKEN", "").strip()
    if not raw:
        raise ActionError(
            "the token input is empty: set it to a secret (secrets are not given to "
            "workflows triggered from forks)"
        )
    projects = [line.strip() for line in environ.get("TOKENTOOL_PROJECTS", "").splitlines()]
    projects = [p for p in projects if p]
    if not projects:
        raise ActionError("the project input is empty: name one project per line")
    ttl = (environ.get("TOKENTOOL_TTL") or DEFAULT_TTL).strip()
    if ttl.lower() in ("none", "off", "0"):
        raise ActionError(
            "the ttl input must be a duration: a CI token without an expiry is refused"
        )
    export = (environ.get("TOKENTOOL_EXPORT") or "TWINE_PASSWORD").strip()
    if not _NAME.match(export) or export in _FORBIDDEN or export.startswith(("GITHUB_", "RUNNER_")):
        raise ActionError(
            f"the export input {escape(repr(export))} is not a variable later steps may get "
            "(a shell name, not PATH, GITHUB_* or RUNNER_*)"
        )
    try:
        seconds = tokentool.parse_duration(ttl)
        for name in projects:
            tokentool.normalize_project(name)
    except TokenError as exc:
        raise ActionError(str(exc)) from None
    return raw, projects, seconds, export


def run(environ: Mapping[str, str], out: TextIO) -> int:
    """The step; 0 when the token was derived and handed on."""
    try:
        raw, projects, seconds, export = _inputs(environ)
        try:
            stored = tokentool.load(raw)
            derived = tokentool.derive(stored, project_names=projects, ttl=seconds)
        except TokenError as exc:
            raise ActionError(f"the token input is not usable: {exc}") from None
        value = derived.dump()
        # First of all, before anything else can print it.
        out.write(f"::add-mask::{_command_value(value)}\n")
        out.write(f"::add-mask::{_command_value(raw)}\n")
        out.flush()
        _append(environ.get("GITHUB_ENV"), export, value, "GITHUB_ENV")
        window = derived.window()
        assert window is not None  # derived with a ttl
        expires = datetime.datetime.fromtimestamp(window[1], datetime.timezone.utc)
        restrictions = "; ".join(derived.explain()["summary"])
        output = environ.get("GITHUB_OUTPUT")
        _append(output, "expires-at", expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "GITHUB_OUTPUT")
        _append(output, "restrictions", restrictions, "GITHUB_OUTPUT")
        out.write(
            f"{export} holds a token for {', '.join(projects)}, valid until "
            f"{expires:%Y-%m-%dT%H:%M:%SZ} (issued by {escape(stored.domain)})\n"
            f"restrictions: {escape(restrictions)}\n"
        )
        return 0
    except ActionError as exc:
        out.write(f"::error title=tokentool::{_command_value(escape(str(exc)))}\n")
        return 1


def main() -> int:
    return run(os.environ, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
