"""``tokentool audit``: user-wide, project-scoped, expired, multi-project and ID-only tokens.

Tokens are minted as the site mints them (``token.mint``) and derived as a
user would (``tokentool.derive``); the command runs as a real process with the
token on stdin, and the policy function is called in-process for the rest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import tokentool
from tokentool.token import mint
from tokentool.token.audit import FAIL, PASS, UNDECIDED, Finding, Policy, audit

KEY = b"k" * 32
USER = "3c93e9f6-4b0e-4c6a-9d33-2d2d6b1b8c4e"
PROJECT_ID = "6f1e8a52-93c4-4b7e-a0c2-1d5c0e6f9a11"
NOW = 1_900_000_000


def _user_wide(domain: str = "pypi.org") -> str:
    return mint(domain=domain, identifier="a" * 32, key=KEY, user_id=USER)


def _project_scoped() -> str:
    """What the site's account page issues for one project: [1, [name]] and [2, [id]]."""
    return mint(
        domain="pypi.org", identifier="b" * 32, key=KEY, project_name="Mine", project_id=PROJECT_ID
    )


def _derived(**restrictions: object) -> str:
    return tokentool.derive(tokentool.load(_user_wide()), now=NOW, **restrictions).dump()


def audit_cli(token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentool", "audit", *args],
        input=token,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _check(raw: str, policy: Policy) -> list[tuple[str, str]]:
    return [(f.check, f.outcome) for f in audit(tokentool.load(raw, strict=False), policy, now=NOW)]


def test_user_wide_fails_every_least_privilege_check() -> None:
    ran = audit_cli(
        _user_wide(),
        "--require-project",
        "mine",
        "--forbid-user-wide",
        "--max-ttl",
        "1h",
        "--issuer",
        "test.pypi.org",
    )
    assert ran.returncode == 1, ran.stderr
    assert ran.stdout.splitlines() == [
        "fail: issuer: it was issued by pypi.org, not by test.pypi.org",
        "fail: max-ttl: it never expires",
        "fail: forbid-user-wide: it is user-wide: it can upload to every project of its user",
        "fail: require-project: it is user-wide: it can upload to every project of its user",
    ]


def test_a_site_project_token_passes_for_its_project() -> None:
    ran = audit_cli(
        _project_scoped(), "--require-project", "MINE", "--forbid-user-wide", "--issuer", "pypi.org"
    )
    assert (ran.returncode, ran.stdout) == (0, "ok: the token satisfies the policy\n")
    other = audit_cli(_project_scoped(), "--require-project", "other", "--json")
    assert other.returncode == 1
    data = json.loads(other.stdout)
    assert data["ok"] is False
    assert data["findings"] == [
        {"check": "require-project", "outcome": "fail", "reason": "it may also upload to mine"}
    ]
    # Never the token in any output.
    assert _project_scoped()[5:] not in other.stdout + other.stderr


def test_expired_fails_whatever_the_policy() -> None:
    expired = _derived(
        project_names=["a"], not_before=NOW - 7200, not_after=NOW - 3600, allow_unusable=True
    )
    findings = audit(tokentool.load(expired), Policy(require_projects=("a",)), now=NOW)
    assert findings == [
        Finding(
            "expiry",
            FAIL,
            "it expired at 2030-03-17T16:46:40Z (now 2030-03-17T17:46:40Z): "
            "nothing would accept it",
        )
    ]
    now = int(time.time())
    really = tokentool.derive(
        tokentool.load(_user_wide()),
        project_names=["a"],
        not_before=now - 7200,
        not_after=now - 3600,
        now=now,
        allow_unusable=True,
    )
    ran = audit_cli(really.dump())
    assert ran.returncode == 1
    assert ran.stdout.startswith("fail: expiry: it expired at ")
    assert "nothing would accept it" in ran.stdout


def test_short_lived_and_max_ttl() -> None:
    short = _derived(project_names=["a"], ttl=900)
    assert _check(short, Policy(max_ttl=3600)) == []
    assert _check(short, Policy(max_ttl=600)) == [("max-ttl", FAIL)]
    findings = audit(tokentool.load(short), Policy(max_ttl=600), now=NOW)
    assert findings[0].reason == (
        "it expires at 2030-03-17T18:01:40Z, more than 600 s from now (2030-03-17T17:46:40Z)"
    )


def test_multi_project_tokens() -> None:
    both = _derived(project_names=["a", "b"], ttl=900)
    assert _check(both, Policy(require_projects=("a", "b"))) == []
    assert _check(both, Policy(require_projects=("A", "c", "b"))) == []  # a subset is fine
    findings = audit(tokentool.load(both), Policy(require_projects=("a",)), now=NOW)
    assert findings == [Finding("require-project", FAIL, "it may also upload to b")]


def test_a_restriction_only_the_site_can_decide_is_not_a_pass() -> None:
    """A token restricted by project ID: which project that is, only the index knows."""
    by_id = _derived(project_ids=[PROJECT_ID])
    findings = audit(
        tokentool.load(by_id), Policy(require_projects=("a",), forbid_user_wide=True), now=NOW
    )
    assert findings == [
        Finding(
            "require-project",
            UNDECIDED,
            f"it is restricted to project ID(s) {PROJECT_ID}: only the index knows which "
            "project(s) those are",
        )
    ]
    ran = audit_cli(by_id, "--require-project", "a")
    assert ran.returncode == 1
    assert ran.stdout.startswith("undecided: require-project: it is restricted to project ID(s)")
    assert PASS not in {f.outcome for f in findings}


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (["--max-ttl", "soon"], None, "invalid duration: 'soon'"),
        (["--require-project", "bad name!"], None, "invalid project name"),
        ([], "garbage", "this is not a PyPI token"),
    ],
)
def test_bad_input_is_exit_2_in_one_line(args: list[str], token: str | None, message: str) -> None:
    ran = audit_cli(token or _user_wide(), *args)
    assert ran.returncode == 2
    (line,) = [x for x in ran.stderr.splitlines() if x.startswith("tokentool: error:")]
    assert message in line


def test_bad_issuer_choice_is_exit_2() -> None:
    ran = audit_cli(_user_wide(), "--issuer", "example.org")
    assert ran.returncode == 2
    assert "invalid choice: 'example.org'" in ran.stderr


def test_the_test_site_and_a_private_index() -> None:
    assert _check(_user_wide("test.pypi.org"), Policy(issuer="test.pypi.org")) == []
    private = audit(tokentool.load(_user_wide("pypi.internal.example")), Policy(issuer="pypi.org"))
    assert private == [
        Finding("issuer", FAIL, "it was issued by pypi.internal.example, not by pypi.org")
    ]
    assert time.time() < NOW  # the fixed clock above is in the future: no test here expires
