"""The ``tokentool`` command: exact output, exit codes, and no token where it must not be."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pymacaroons
import pytest
from helpers import Terminal

import tokentool
from tokentool.cli import main
from tokentool.token import PROJECT_NAME_RULE
from tokentool.token.caveats import iso

KEY = secrets.token_bytes(32)
USER = "1c4b2d63-9f0e-4e4a-8a55-0e1f2f3a4b5c"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def raw() -> str:
    return tokentool.mint(
        domain="test.pypi.org", identifier=str(uuid.uuid4()), key=KEY, user_id=USER
    )


def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """The command in-process: same code path as the console script, minus start-up."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def run_process(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentool", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_restrict_prints_the_derived_token_alone(raw: str) -> None:
    code, out, err = run(["restrict", "My_Project"], raw + "\n")
    assert code == 0
    derived = out.strip()
    assert out == derived + "\n"
    assert derived != raw and derived.startswith("pypi-AgEN")
    assert tokentool.load(derived).evaluate("my-project", user_id=USER).allowed
    assert tokentool.load(derived).verify_signature(KEY)
    assert err == (
        f"Original restrictions: only for the user with ID {USER}\n"
        f"New restrictions: only for the user with ID {USER}; "
        "only for project(s) named my-project\n"
    )
    assert raw not in err and derived not in err


def test_restrict_with_every_option(raw: str) -> None:
    pid = str(uuid.uuid4())
    user = USER
    code, out, err = run(
        ["restrict", "a", "--project-id", pid, "--ttl", "15m", "--user-id", user], raw
    )
    assert code == 0, err
    summary = tokentool.load(out).explain()["summary"]
    assert summary[1:] == [
        summary[1],
        "only for project(s) named a",
        f"only for project(s) with ID {pid}",
        f"only for the user with ID {user}",
    ]
    assert re.fullmatch(f"valid from {ISO} until {ISO} \\(exclusive\\)", summary[1])


def test_restrict_window_options(raw: str) -> None:
    code, out, _ = run(
        ["restrict", "--not-before", "2030-01-01T00:00:00Z", "--not-after", "2030-01-02"], raw
    )
    assert code == 0
    assert tokentool.load(out).window() == (1893456000, 1893542400)


def test_restrict_json(raw: str) -> None:
    code, out, _ = run(["restrict", "a", "--json"], raw)
    data = json.loads(out)
    assert code == 0
    assert data["restrictions"][-1] == {"type": "project_names", "names": ["a"], "legacy": False}
    assert tokentool.load(data["token"]).evaluate("a", user_id=USER).allowed


def test_restrict_each_prints_one_token_per_project(raw: str) -> None:
    code, out, err = run(["restrict", "--each", "alpha", "Beta.Two", "--ttl", "1h"], raw)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["alpha", "Beta.Two"]
    for line, name in zip(lines, ["alpha", "beta-two"], strict=True):
        token = tokentool.load(line.split("\t")[1])
        assert token.project_names() == {name}
        assert token.window() is not None


def test_restrict_each_json(raw: str) -> None:
    code, out, _ = run(["restrict", "--each", "a", "b", "--json"], raw)
    rows = json.loads(out)
    assert code == 0 and [r["project"] for r in rows] == ["a", "b"]


def test_inspect_text(raw: str) -> None:
    token = tokentool.load(raw)
    code, out, err = run(["inspect"], raw)
    assert code == 0 and err == ""
    assert out == (
        "prefix:      pypi\n"
        "domain:      test.pypi.org\n"
        "issuer:      test.pypi.org\n"
        f"identifier:  {token.identifier}\n"
        "restrictions:\n"
        f"  - only for the user with ID {USER}\n"
    )


def test_inspect_json_never_contains_the_token(raw: str) -> None:
    code, out, _ = run(["inspect", "--json"], raw)
    assert code == 0
    assert json.loads(out)["identifier"] == tokentool.load(raw).identifier
    assert raw[5:] not in out and tokentool.load(raw)._macaroon.signature not in out


def test_inspect_unrestricted_token() -> None:
    bare = tokentool.mint(domain="pypi.org", identifier=str(uuid.uuid4()), key=KEY)
    code, out, _ = run(["inspect"], bare)
    assert code == 0
    assert out.endswith(
        "restrictions: none embedded in the token; the site may keep restrictions for it "
        "that only the site can judge (without any, it can upload to every project its "
        "user owns)\n"
    )


def test_check_allowed_and_refused(raw: str) -> None:
    derived = tokentool.derive(tokentool.load(raw), project_names=["a"], ttl="1h").dump()
    assert run(["check", "A", "--user-id", USER], derived) == (
        0,
        "allowed: the restrictions let an upload to 'A' through\n",
        "",
    )
    refusal = "refused: Invalid API Token: project-scoped token is not valid for project: 'b'\n"
    # Test PyPI quotes the stored name: the words are a guess until it is given.
    assert run(["check", "b", "--user-id", USER], derived) == (
        1,
        "",
        refusal + "(not the exact words: they depend on the project's stored name, which only "
        "the index knows; give --display-name for the exact words)\n",
    )
    assert run(["check", "b", "--user-id", USER, "--display-name", "b"], derived) == (
        1,
        "",
        refusal,
    )
    code, _, err = run(["check", "a", "--at", "2000-01-01T00:00:00Z", "--user-id", USER], derived)
    window = tokentool.load(derived).window()
    assert window is not None
    assert (code, err) == (
        1,
        "refused: Invalid API Token: token is expired\n"
        f"(the token is not valid yet: it is valid from {iso(window[0])}, "
        "and it is now 2000-01-01T00:00:00Z)\n",
    )
    code, _, err = run(["check", "a", "--at", str(window[1]), "--user-id", USER], derived)
    assert (code, err) == (
        1,
        "refused: Invalid API Token: token is expired\n"
        f"(the token is expired: it was valid until {iso(window[1])} (exclusive), "
        f"and it is now {iso(window[1])})\n",
    )


def test_an_expired_token_is_called_expired_with_the_time(raw: str) -> None:
    old = tokentool.derive(
        tokentool.load(raw), not_before=1000, not_after=2000, allow_unusable=True
    ).dump()
    code, out, err = run(["restrict", "a", "--ttl", "15m"], old)
    assert (code, out) == (2, "")
    assert re.fullmatch(
        r"tokentool: error: the token is expired: it was valid until 1970-01-01T00:33:20Z "
        r"\(exclusive\), and it is now \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; a token derived "
        r"from it could never be used\n",
        err,
    )


def test_check_is_undecided_on_what_only_the_index_knows(raw: str) -> None:
    """A user-wide token's [3, user] caveat, a site project token's [2, id]: exit 3."""
    derived = tokentool.derive(tokentool.load(raw), project_names=["a"]).dump()
    assert run(["check", "a"], derived) == (
        3,
        "",
        "undecided: it depends on the uploading user's ID, which only the index knows; "
        "give --user-id\n",
    )
    other = str(uuid.uuid4())
    code, out, err = run(["check", "a", "--user-id", other], derived)
    assert (code, out) == (1, "")
    # Twice if the site stored the [3, user] it minted, once if its row holds nothing.
    twice = (
        "refused: Invalid API Token: current user does not match user restriction in token, "
        "current user does not match user restriction in token\n"
    )
    assert err == twice + (
        "(not the exact words: they depend on the caveats the site keeps with the token, "
        "which only the index knows; give --stored for the exact words)\n"
    )
    stored = json.dumps([[3, USER]])
    assert run(["check", "a", "--user-id", other, "--stored", stored], derived) == (1, "", twice)
    once = run(["check", "a", "--user-id", other, "--stored", "[]"], derived)
    mismatch = "current user does not match user restriction in token"
    assert once == (1, "", f"refused: Invalid API Token: {mismatch}\n")
    assert run(["check", "a", "--stored", "{}"], derived)[0] == 2
    project_id = str(uuid.uuid4())
    site = tokentool.mint(
        domain="test.pypi.org",
        identifier=str(uuid.uuid4()),
        key=KEY,
        project_name="my-proj",
        project_id=project_id,
    )
    assert run(["check", "my-proj"], site)[0] == 3
    assert run(["check", "my-proj", "--project-id", project_id], site)[0] == 0
    code, out, err = run(["check", "other", "--json"], site)
    data = json.loads(out)
    assert code == 1 and err == ""
    assert data["outcome"] == "refused" and data["needs"] == [] and not data["exact"]
    assert data["guessed"] == ["display_name", "stored"]
    assert data["message"] == "Invalid API Token: " + ", ".join(
        ["project-scoped token is not valid for project: 'other'"] * 4
    )
    stored = json.dumps([[1, ["my-proj"]], [2, [project_id]]])
    argv = ["check", "other", "--json", "--display-name", "Other", "--stored", stored]
    data = json.loads(run(argv, site)[1])
    assert data["exact"] and data["guessed"] == []
    assert data["message"] == "Invalid API Token: " + ", ".join(
        ["project-scoped token is not valid for project: 'Other'"] * 4
    )
    code, out, _ = run(["check", "my-proj", "--json"], site)
    assert code == 3 and json.loads(out)["needs"] == ["project_id"]


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["inspect"], "", "no token given: the input is empty"),
        (["inspect"], "hello", "this is not a PyPI token: it does not start with 'pypi-'"),
        (["restrict"], "x", "give at least one PROJECT or restriction option"),
        (["restrict", "--each", "--ttl", "1h"], "x", "--each needs at least one PROJECT"),
        (
            ["restrict", "a", "--ttl", "soon"],
            None,
            "invalid duration: 'soon' (use a number of seconds or e.g. 15m, 2h, 7d)",
        ),
        (
            ["restrict", "a b"],
            None,
            f"invalid project name: 'a b' ({PROJECT_NAME_RULE})",
        ),
        (
            ["check", "a", "--at", "never"],
            None,
            "invalid time: 'never' (use ISO 8601 such as "
            "2026-01-31T12:00:00Z, or a Unix timestamp)",
        ),
        (
            ["check", "not valid!"],
            None,
            f"invalid project name: 'not valid!' ({PROJECT_NAME_RULE})",
        ),
        (
            ["restrict", "--ttl", "1h", "--not-before", "5"],
            "x",
            "argument --not-before: not allowed with argument --ttl",
        ),
    ],
)
def test_errors_are_one_sentence_and_exit_2(
    argv: list[str], stdin: str | None, message: str, raw: str
) -> None:
    code, out, err = run(argv, raw if stdin is None else stdin)
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == f"tokentool: error: {message}"
    assert raw[5:] not in err


def test_no_command_prints_help() -> None:
    code, _, err = run([])
    assert code == 2 and "restrict" in err and "inspect" in err


def test_console_script_end_to_end(raw: str) -> None:
    """A real process: stdin in, token out, nothing on argv, no traceback on bad input."""
    derived = run_process(["restrict", "my-project"], raw)
    assert derived.returncode == 0, derived.stderr
    checked = run_process(["check", "my-project"], derived.stdout)
    assert checked.returncode == 3
    checked = run_process(["check", "my-project", "--user-id", USER], derived.stdout)
    assert checked.returncode == 0
    refused = run_process(["check", "other"], derived.stdout)
    assert refused.returncode == 1
    bad = run_process(["inspect"], "pypi-" + "A" * 300)
    assert bad.returncode == 2
    assert (
        bad.stderr
        == "tokentool: error: the token could not be decoded: it is truncated or corrupted\n"
    )


def test_help_answers() -> None:
    for argv in (["--help"], ["restrict", "--help"], ["check", "--help"], ["inspect", "--help"]):
        result = run_process(argv)
        assert result.returncode == 0
        text = " ".join(result.stdout.split())
        assert "standard input" in text and "usage: tokentool" in text


def test_walkthrough_runs_and_shows_no_token() -> None:
    result = run_process(["walkthrough"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("walkthrough: all steps behaved as described\n")
    assert "pypi-AgEJ…(redacted)" in result.stdout
    assert not re.search(r"pypi-[A-Za-z0-9_-]{20,}", result.stdout)


def test_module_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("tokentool")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert result.stdout.strip() == "tokentool 0.1.0"


def test_terminal_input_is_hidden(raw: str) -> None:
    """On a terminal the token is asked for with echo off: it never shows on screen."""
    terminal = Terminal([sys.executable, "-m", "tokentool", "inspect"])
    terminal.read_until(b"input hidden", timeout=30)
    terminal.type_line(raw)
    terminal.read_until(b"identifier:", timeout=30)
    terminal.read_until(b"restrictions:", timeout=30)
    code = terminal.wait()
    assert b"PyPI token (input hidden): " in terminal.screen
    assert raw.encode() not in terminal.screen and raw[5:25].encode() not in terminal.screen
    assert code == 0


def test_check_gives_a_verdict_on_caveats_test_pypi_cannot_read(raw: str) -> None:
    """A BOM caveat used to read as valid and pass; Test PyPI stops judging there."""
    macaroon = pymacaroons.Macaroon.deserialize(raw.partition("-")[2])
    macaroon.add_first_party_caveat('\ufeff[1, ["a"]]'.encode())
    bom = "pypi-" + macaroon.serialize()
    assert run(["check", "a", "--user-id", USER], bom) == (
        1,
        "",
        "refused: Invalid API Token: unknown error\n",
    )


def test_inspect_explains_caveats_test_pypi_cannot_read(raw: str) -> None:
    macaroon = pymacaroons.Macaroon.deserialize(raw.partition("-")[2])
    macaroon.add_first_party_caveat('[1, ["a"]')
    macaroon.add_first_party_caveat("[9]")
    code, out, _ = run(["inspect"], "pypi-" + macaroon.serialize())
    assert code == 0
    assert out.endswith(
        "  - unreadable caveat (it is not JSON); Test PyPI stops judging the token here\n"
        "  - unreadable caveat (caveat has unknown tag: 9)\n"
    )
