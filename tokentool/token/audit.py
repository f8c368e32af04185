"""Does a stored token meet a least-privilege policy? (``tokentool audit``)

A CI secret is usually pasted once and never looked at again; this checks it
against what the project expects of it, offline, before any job uses it:

- ``--require-project NAME`` (repeatable): it may upload only to these;
- ``--max-ttl DURATION``: it expires within that time from now;
- ``--issuer pypi.org|test.pypi.org``: the site it works on;
- ``--forbid-user-wide``: it is restricted to projects at all.

Each check comes out ``pass``, ``fail`` or ``undecided``: the project checks
use the token's own three-valued judgement (``Token.evaluate``), so a
restriction only the site can decide (project IDs: which project an ID is,
only the index knows) is reported as undecided, never as a pass. An expired
token always fails: nothing would accept it. The command is
``tokentool.cli.audit``.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid
from collections.abc import Sequence

import tokentool
from tokentool._safety import escape
from tokentool.token import Token
from tokentool.token.caveats import UserID

__all__ = ["FAIL", "ISSUERS", "PASS", "UNDECIDED", "Finding", "Policy", "audit"]

PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"
ISSUERS = ("pypi.org", "test.pypi.org")


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the token must satisfy; an empty policy still fails an expired token."""

    require_projects: tuple[str, ...] = ()
    max_ttl: int | None = None
    issuer: str | None = None
    forbid_user_wide: bool = False


@dataclasses.dataclass(frozen=True)
class Finding:
    check: str
    outcome: str
    reason: str

    def as_data(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _iso(ts: int) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(token: Token) -> str | None:
    """The user the token is bound to (its ``[3, user]`` caveat), the upload's rightful user."""
    users = {r.user_id for r in token.restrictions if isinstance(r, UserID) and r.user_id}
    return next(iter(users)) if len(users) == 1 else None


def _scope(token: Token, now: int) -> tuple[str, str]:
    """Can the token upload to a project none of its caveats names? (outcome, why).

    Judged as the index would (``evaluate``) for a fresh name, by the token's
    own user, at a moment its window allows (expiry is its own check).
    """
    window = token.window()
    at = now if window is None or window[0] <= now < window[1] else window[0]
    canary = f"tokentool-audit-{uuid.uuid4().hex}"
    verdict = token.evaluate(canary, user_id=_owner(token), at=at)
    if verdict.allowed:
        return FAIL, "it is user-wide: it can upload to every project of its user"
    if token.project_names() is not None or token.project_ids() is not None:
        # Restricted to projects; to which ones is ``_only_these``'s question (an ID
        # restriction leaves the canary undecided: it might be that very project).
        return PASS, ""
    if verdict.undecided:
        needs = " and ".join(n.replace("_", " ") for n in verdict.needs)
        return UNDECIDED, f"whether it can upload to other projects depends on the {needs}"
    return PASS, ""


def audit(token: Token, policy: Policy, *, now: int | None = None) -> list[Finding]:
    """Every check the policy asks for, plus expiry, in a fixed order."""
    now = int(time.time()) if now is None else now
    findings: list[Finding] = []
    window = token.window()
    if window is not None and not window[0] < window[1]:
        findings.append(Finding("expiry", FAIL, "its validity window is empty: never usable"))
    elif window is not None and window[1] <= now:
        findings.append(
            Finding(
                "expiry",
                FAIL,
                f"it expired at {_iso(window[1])} (now {_iso(now)}): nothing would accept it",
            )
        )
    if policy.issuer is not None and token.issuer != policy.issuer:
        issued = token.issuer if token.issuer != "other" else escape(token.domain or "?")
        findings.append(
            Finding("issuer", FAIL, f"it was issued by {issued}, not by {policy.issuer}")
        )
    if policy.max_ttl is not None:
        if window is None:
            findings.append(Finding("max-ttl", FAIL, "it never expires"))
        elif window[1] - now > policy.max_ttl:
            findings.append(
                Finding(
                    "max-ttl",
                    FAIL,
                    f"it expires at {_iso(window[1])}, more than {policy.max_ttl} s from now "
                    f"({_iso(now)})",
                )
            )
    scope, why = (
        _scope(token, now) if policy.forbid_user_wide or policy.require_projects else ("", "")
    )
    if policy.forbid_user_wide and scope != PASS:
        findings.append(Finding("forbid-user-wide", scope, why))
    if policy.require_projects:
        findings.extend(_only_these(token, policy.require_projects, scope, why))
    return findings


def _only_these(token: Token, required: Sequence[str], scope: str, why: str) -> list[Finding]:
    """ "May upload only to these": the names it admits must all be required ones."""
    wanted = {tokentool.normalize_project(n) for n in required}
    check = "require-project"
    if scope != PASS:
        return [Finding(check, scope, why)]
    names = token.project_names()
    if names is not None:
        extra = sorted(n for n in names if tokentool.normalize_project(n) not in wanted)
        if extra:
            shown = ", ".join(escape(n) for n in extra)
            return [Finding(check, FAIL, f"it may also upload to {shown}")]
        return []
    ids = sorted(token.project_ids() or ())
    shown = ", ".join(escape(i) for i in ids) or "none"
    return [
        Finding(
            check,
            UNDECIDED,
            f"it is restricted to project ID(s) {shown}: only the index knows which "
            "project(s) those are",
        )
    ]
