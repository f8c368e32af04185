"""One printer: every verify-rejection verdict is a ``ProbeResult`` worded by ``probe.describe``.

The sentences are part of the interface (scripts grep for ``SECURITY:``), so
each is pinned here word for word, once built by hand for every outcome and
once from real reports against real indexes. ``tests/test_layout.py`` checks
that no other module builds them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import LenientIndex, closed_port, mint_raw

from tokentool import probe, workflow
from tokentool.probe import ACCEPTED, INCONCLUSIVE, REFUSED, Expectation, Outcome, ProbeResult
from tokentool.workflow import Answer, FileAnswer, load_config
from tokentool.workflow._flow import _uploaded

PROJECT = "proj"
REASON = "project-scoped token is not valid for project: 'proj'"
PREDICTION = f"Invalid API Token: {REASON}"
URL = "http://127.0.0.1:9/legacy/"
TO_OTHER = Expectation(REASON, PREDICTION, "proj-elsewhere", URL)
EXPIRED = Expectation("token is expired", "Invalid API Token: token is expired", None, URL)
DIGEST = "The digest supplied does not match a digest calculated from the uploaded file."
UNKNOWN = "Invalid or non-existent authentication information."


def _refused(reason: str, kind: str, status: int = 403) -> ProbeResult:
    return ProbeResult(REFUSED, reason, kind, status, answer=f"{status} {reason}")


CASES = [
    (
        _refused(PREDICTION, "token"),
        TO_OTHER,
        Outcome.REFUSED_AS_EXPECTED,
        f"refused as expected: 403 {PREDICTION}",
    ),
    (
        _refused("Invalid API Token: token is expired, signatures do not match", "token"),
        EXPIRED,
        Outcome.REFUSED_AS_EXPECTED,
        "refused as expected: 403 Invalid API Token: token is expired, signatures do not match",
    ),
    (
        ProbeResult(ACCEPTED, "x", "digest", 400, security=True, answer=f"400 {DIGEST}"),
        TO_OTHER,
        Outcome.ACCEPTED,
        "SECURITY: the index accepted a token restricted to proj-elsewhere",
    ),
    (
        ProbeResult(ACCEPTED, "x", "uploaded", 200, security=True, answer="200 OK"),
        EXPIRED,
        Outcome.ACCEPTED,
        "SECURITY: the index accepted an expired token",
    ),
    (
        # An organization's refusal comes after the token passed: still a SECURITY failure.
        ProbeResult(
            REFUSED,
            "Organization account owning this project is inactive",
            "org-inactive",
            400,
            security=True,
        ),
        EXPIRED,
        Outcome.ACCEPTED,
        "SECURITY: the index accepted an expired token",
    ),
    (
        _refused(UNKNOWN, "unknown-token"),
        TO_OTHER,
        Outcome.REFUSED_OTHERWISE,
        "the upload of proj was refused, but not because of the token's restriction: "
        f"the index does not know this token: 403 {UNKNOWN} (expected 403 {PREDICTION})",
    ),
    (
        _refused("Invalid API Token: token is expired", "token"),
        TO_OTHER,
        Outcome.REFUSED_OTHERWISE,
        "the upload of proj was refused, but not because of the token's restriction: "
        "the token was refused for other reasons: 403 Invalid API Token: token is expired "
        f"(expected 403 {PREDICTION})",
    ),
    (
        ProbeResult(INCONCLUSIVE, f"index unreachable: could not connect to {URL}", "unreachable"),
        TO_OTHER,
        Outcome.UNREACHABLE,
        f"index unreachable: could not connect to {URL}",
    ),
    (
        ProbeResult(INCONCLUSIVE, "it does not judge\x1b[2J", "calibration", 400),
        EXPIRED,
        Outcome.UNPROBEABLE,
        f"the index at {URL} can't be probed, so nothing was sent with the real file's digest "
        "and nothing was published: it does not judge\\x1b[2J; verify-rejection cannot tell "
        "whether it refuses this token (--real-upload uploads the real files instead, which "
        "publishes them if it accepts the token)",
    ),
]


@pytest.mark.parametrize(("result", "expected", "outcome", "sentence"), CASES)
def test_every_verdict_is_judged_and_worded_by_the_probe(
    result: ProbeResult, expected: Expectation, outcome: Outcome, sentence: str
) -> None:
    assert expected.judge(result) is outcome
    checked = dataclasses.replace(result, expected=expected)
    assert probe.describe(checked, PROJECT) == sentence
    # The same result without the check's expectation is a bare probe's, worded as one.
    assert probe.describe(result, PROJECT) != sentence


def test_a_hostile_answer_is_escaped_in_the_verdict() -> None:
    result = _refused("Forbidden\x1b]0;owned\x07", "", 403)
    checked = dataclasses.replace(result, expected=TO_OTHER)
    line = probe.describe(checked, "proj\x1b[1m")
    assert line.isprintable() and "\\x1b" in line
    assert line.startswith("the upload of proj\\x1b[1m was refused, but not because of the ")
    assert ": the index answered something a probe cannot read: 403 Forbidden\\x1b]0;" in line


def test_a_real_upload_answer_reads_as_the_probe_result() -> None:
    """``--real-upload`` answers are judged and worded like a probe's (one file is enough)."""
    one_in = Answer(False, 403, "Forbidden", (FileAnswer("a.whl", 200, "OK"),))
    assert _uploaded(one_in).security and TO_OTHER.judge(_uploaded(one_in)) is Outcome.ACCEPTED
    refused = _uploaded(Answer(False, 403, PREDICTION, (FileAnswer("a.whl", 403, PREDICTION),)))
    assert (refused.outcome, refused.kind, refused.answer) == (
        REFUSED,
        "token",
        f"403 {PREDICTION}",
    )
    gone = _uploaded(Answer(False, None, "", (), "index unreachable: x"))
    assert (gone.kind, gone.detail) == ("unreachable", "index unreachable: x")


def test_a_probe_json_has_no_expectation_key() -> None:
    """``tokentool probe --json`` prints ``as_data``: a check's field must not appear there."""
    assert "expected" not in _refused(UNKNOWN, "unknown-token").as_data()
    data = ProbeResult(REFUSED, "r", "token", 403, expected=EXPIRED).as_data()
    assert data["expected"]["reason"] == "token is expired"


def _checked(report: workflow.VerifyReport) -> str:
    """The report's one line, and proof it is the probe's printer on the report's result."""
    assert report.result.expected is not None
    assert report.outcome is report.result.expected.judge(report.result)
    assert report.message == probe.describe(report.result, report.built.project)
    return report.message


@pytest.mark.parametrize("case", ["project", "expired"])
def test_real_refusals_are_worded_by_the_probe(index_server, case: str) -> None:
    token = index_server.mint("verdicts")
    config = load_config(None, {"TOKEN": token, "INDEX_URL": index_server.upload_url})
    report = workflow.verify_rejection(config, f"verdict-{case}", case=case, allow_new_project=True)
    assert report.ok
    reason = (
        f"project-scoped token is not valid for project: 'verdict-{case}'"
        if case == "project"
        else "token is expired"
    )
    assert _checked(report).startswith("refused as expected: 403 Invalid API Token: ")
    assert reason in report.message


def test_a_real_refusal_for_another_reason_is_worded_by_the_probe(index_server) -> None:
    config = load_config(None, {"TOKEN": mint_raw(), "INDEX_URL": index_server.upload_url})
    report = workflow.verify_rejection(config, "verdict-other", allow_new_project=True)
    assert report.outcome is Outcome.REFUSED_OTHERWISE
    assert _checked(report).startswith(
        "the upload of verdict-other was refused, but not because of the token's restriction: "
        "the index does not know this token: 403 Invalid or non-existent authentication"
    )


def test_an_unreachable_index_is_worded_by_the_probe() -> None:
    url = f"http://127.0.0.1:{closed_port()}/legacy/"
    config = load_config(None, {"TOKEN": mint_raw(), "INDEX_URL": url})
    report = workflow.verify_rejection(config, "verdict-closed")
    assert report.outcome is Outcome.UNREACHABLE
    assert _checked(report).startswith("index unreachable: could not connect to http://127.0.0.1:")


@pytest.mark.slow
def test_a_wrong_acceptance_is_worded_by_the_probe(tmp_path: Path) -> None:
    (tmp_path / "stored").mkdir()
    with LenientIndex(tmp_path / "stored", {"verdict-lenient"}) as lenient:
        config = load_config(None, {"TOKEN": lenient.token, "INDEX_URL": lenient.url})
        report = workflow.verify_rejection(config, "verdict-lenient", case="expired")
    assert report.outcome is Outcome.ACCEPTED
    assert _checked(report) == "SECURITY: the index accepted an expired token"
