"""Tokens whose restrictions only the site keeps (pypi/warehouse#20371), rehearsed on the stand-in.

``index mint --stored-only`` issues a token with no embedded caveat and keeps
the restrictions with its row; the stand-in judges them there, as the site
does. Offline, ``inspect`` says none are embedded and the site may keep some,
and ``check`` cannot decide (exit 3); the probe and verify-rejection ask the
index and keep working.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from helpers import cli_state, stored_names, twine_upload, unique

import tokentool
from tokentool import probe
from tokentool.cli import main
from tokentool.index import RunningServer


def _project(server: RunningServer, dists: object) -> tuple[str, str, str]:
    """(user, project, other project), both created by real uploads of the user's."""
    user, name, other = unique("user"), unique(), unique()
    token = server.mint(user)
    for project in (name, other):
        ran = twine_upload(server.upload_url, token, dists(project).wheel)  # type: ignore[operator]
        assert ran.returncode == 0, ran.output
    return user, name, other


def _cli(argv: list[str], token: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv, io.StringIO(token))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_mint_stored_only_embeds_nothing_and_the_index_judges_the_row(
    index_server: RunningServer, dists: object, capsys: pytest.CaptureFixture[str]
) -> None:
    user, name, other = _project(index_server, dists)
    state, env = cli_state(index_server)
    raw = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokentool",
            "index",
            "mint",
            *state,
            "--user",
            user,
            "--project",
            name,
            "--stored-only",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    ).stdout.strip()
    assert tokentool.load(raw).restrictions == ()

    code, text = _cli(["inspect"], raw, capsys)
    assert code == 0
    assert "restrictions: none embedded in the token; the site may keep restrictions" in text

    code, text = _cli(["check", other], raw, capsys)
    assert code == 3
    assert text == (
        "undecided: no restrictions are embedded in this token, and the site may keep "
        "restrictions for it that only the site can judge; give them with --stored, "
        "or tokentool probe asks the index\n"
    )

    # The index knows: the row's restrictions hold the token to ``name``.
    before = stored_names(index_server)
    allowed = probe.probe(index_server.upload_url, raw, name, dists(name, "2.0").wheel)  # type: ignore[operator]
    refused = probe.probe(index_server.upload_url, raw, other, dists(other, "2.0").wheel)  # type: ignore[operator]
    assert (allowed.outcome, allowed.kind) == ("accepted", "digest")
    assert (refused.outcome, refused.kind) == ("refused", "token")
    assert f"project-scoped token is not valid for project: {other!r}" in refused.detail
    assert stored_names(index_server) == before


def test_verify_rejection_works_with_a_stored_only_token(
    index_server: RunningServer, dists: object
) -> None:
    from tokentool import workflow

    user, name, _other = _project(index_server, dists)
    raw = index_server.mint(user, stored_only=True)
    config = workflow.load_config(
        None, {"TOKEN": raw}, index_url=index_server.upload_url, keyring=False, pypirc=None
    )
    for case in ("project", "expired"):
        report = workflow.verify_rejection(config, name, case=case)
        assert report.ok, report.message
