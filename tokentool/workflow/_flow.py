"""The seed tutorial's manual flow as functions: build, derive, upload, prove a refusal.

The Invoke tasks, the ``tokentool upload|verify-rejection`` commands and the
demo call these with a ``Config``; nothing here reads ``.env`` or prints. Each
step is told to ``progress`` (one line, already escaped) as it happens, and
the outcome comes back as data the caller words. verify-rejection's verdict is
the probe's: a ``ProbeResult`` carrying the check's ``Expectation``, judged and
worded by ``tokentool.probe`` (the one printer). The rule that matters most
lives in ``Expectation.judge``: the check passes only when the index refused
*because of the restriction*, never on any other failure. Its upload never
publishes (a wrong digest, ``_probing``) and never targets a missing project
unless told to (``quota_guard``).
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import tokentool
from tokentool import probe as _probe
from tokentool._safety import escape
from tokentool.exceptions import ConfigError
from tokentool.options import DEFAULT_TTL
from tokentool.probe import Outcome  # verify-rejection's verdicts, judged by the probe
from tokentool.sites import check_destination, site_of
from tokentool.token import Token, Verdict
from tokentool.workflow._build import Built, build_sample
from tokentool.workflow._client import Answer, Timeouts, upload_files
from tokentool.workflow._config import Config
from tokentool.workflow._dists import OwnFiles
from tokentool.workflow._probing import probe_timeout, quota_guard, result_answer

CASES = ("project", "expired")
#: Reason each case must be refused with (warehouse's words, see the reference).
_EXPECTED = {
    "project": "project-scoped token is not valid for project: {project!r}",
    "expired": "token is expired",
}
Progress = Callable[[str], None]


def _silent(_line: str) -> None:
    pass


def parse_ttl(ttl: str | None) -> int | None:
    """Seconds of validity; ``none``/``off``/``0`` mean "no validity window"."""
    if ttl is None or ttl.strip().lower() in ("", "none", "off", "0"):
        return None
    return tokentool.parse_duration(ttl)


def derive_for(config: Config, project: str, ttl: str | None = DEFAULT_TTL) -> Token:
    """The token an upload of ``project`` uses: restricted to it, and by default short-lived."""
    return tokentool.derive(config.token, project_names=[project], ttl=parse_ttl(ttl))


def view_url(index_url: str, project: str, version: str) -> str:
    """The release's page, as twine's ``Repository.release_urls`` prints it after "View at:".

    twine names it for pypi.org and test.pypi.org, with its ``safe_name`` (runs of
    characters other than letters, digits and "." become "-"; the site redirects
    to the stored name). An index uploaded to at ``.../legacy/`` has warehouse's
    routes, the stand-in's pages among them; any other index gets its pip page.
    """
    site = site_of(index_url)
    safe = re.sub("[^A-Za-z0-9.]+", "-", project)
    if site != "other":
        return f"https://{site}/project/{safe}/{version}/"
    if index_url.endswith("/legacy/"):
        return f"{index_url[: -len('legacy/')]}project/{safe}/{version}/"
    return f"{index_url}simple/{tokentool.normalize_project(project)}/"


def built_line(built: Built) -> str:
    return f"built {built.project} {built.version}: {built.sdist.name}, {built.wheel.name}"


@dataclasses.dataclass(frozen=True)
class UploadReport:
    """What ``upload`` did: the sample built in a temporary folder (gone by now), or own files."""

    built: Built | OwnFiles
    restrictions: tuple[str, ...]
    answer: Answer
    view: str
    seconds: float
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.answer.accepted

    @property
    def message(self) -> str:
        """The verdict, one line (then, when accepted, "View at:" and the URL, as twine)."""
        if self.ok:  # twine's last words after an upload
            if isinstance(self.built, OwnFiles):
                sent = f"{len(self.built.files)} file(s) of {escape(self.built.project)} uploaded"
                return f"accepted: {sent}\nView at:\n{escape(self.view)}"
            return f"accepted: both files uploaded\nView at:\n{escape(self.view)}"
        built = self.built
        return f"upload of {built.project} {built.version} failed: {self.answer.summary}"


def _send(
    config: Config,
    built: Built | OwnFiles,
    derived: Token,
    timeouts: Timeouts | None,
    progress: Progress,
) -> Answer:
    """Upload the built files with ``derived``; the configured token is kept out of answers."""
    return upload_files(
        built.files,
        derived,
        config.index_url,
        timeouts=timeouts,
        progress=progress,
        secrets=(config.token.dump(),),
    )


def upload(
    config: Config,
    project: str,
    *,
    version: str | None = None,
    ttl: str | None = DEFAULT_TTL,
    allow_production: bool = False,
    allow_other_host: bool = False,
    timeouts: Timeouts | None = None,
    progress: Progress = _silent,
) -> UploadReport:
    """Build, derive a token restricted to ``project``, upload both files with it."""
    started = time.perf_counter()
    check_destination(
        config.token.domain,
        config.index_url,
        allow_production=allow_production,
        allow_other_host=allow_other_host,
    )
    progress(config.source_line)
    derived = derive_for(config, project, ttl)
    restrictions = tuple(derived.explain()["summary"])
    with tempfile.TemporaryDirectory(prefix="tokentool-upload-") as tmp:
        built = build_sample(project, Path(tmp) / "dist", version)
        progress(built_line(built))
        progress("derived token restrictions: " + "; ".join(restrictions))
        answer = _send(config, built, derived, timeouts, progress)
    view = view_url(config.index_url, project, built.version)
    return UploadReport(
        built, restrictions, answer, view, time.perf_counter() - started, config.source
    )


def upload_own(
    config: Config,
    groups: list[OwnFiles],
    *,
    ttl: str | None = DEFAULT_TTL,
    allow_production: bool = False,
    allow_other_host: bool = False,
    timeouts: Timeouts | None = None,
    progress: Progress = _silent,
) -> list[UploadReport]:
    """Upload the user's own files, each project's with a token restricted to that project.

    Nothing is built. Projects go one after the other and the first refusal
    stops the run, as twine stops at the first refused file.
    """
    check_destination(
        config.token.domain,
        config.index_url,
        allow_production=allow_production,
        allow_other_host=allow_other_host,
    )
    progress(config.source_line)
    reports: list[UploadReport] = []
    for group in groups:
        started = time.perf_counter()
        derived = derive_for(config, group.project, ttl)
        restrictions = tuple(derived.explain()["summary"])
        names = ", ".join(escape(f.name) for f in group.files)
        progress(f"your files of {escape(group.project)} {escape(group.version)}: {names}")
        progress("derived token restrictions: " + "; ".join(restrictions))
        answer = _send(config, group, derived, timeouts, progress)
        view = view_url(config.index_url, group.project, group.dists[0].version)
        reports.append(
            UploadReport(
                group, restrictions, answer, view, time.perf_counter() - started, config.source
            )
        )
        if not answer.accepted:
            break
    return reports


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """What ``verify_rejection`` sent, predicted and got back, and the verdict.

    ``result`` is the verdict as the probe's one result type, carrying the
    check's ``Expectation``: the probe's own result, or a real upload's
    answer read the same way (``--real-upload``). ``tokentool.probe`` judges
    it (``outcome``) and words it (``message``), as it does for every probe.
    """

    built: Built | OwnFiles
    case: str
    other: str | None
    restrictions: tuple[str, ...]
    prediction: Verdict
    expected_reason: str
    answer: Answer
    result: _probe.ProbeResult
    seconds: float
    source: str = ""

    @property
    def outcome(self) -> Outcome:
        expected = self.result.expected
        assert expected is not None  # verify_rejection attaches it to every result
        return expected.judge(self.result)

    @property
    def kind(self) -> str:
        """What the refusal was, named (``tokentool.probe.KINDS``), or why it cannot be probed."""
        return self.result.kind

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.REFUSED_AS_EXPECTED

    @property
    def message(self) -> str:
        """One sentence for the outcome: ``tokentool.probe.describe``, the one printer."""
        return _probe.describe(self.result, self.built.project)


def default_other(project: str) -> str:
    """A valid project name that can never normalize to ``project``."""
    return f"{project}-elsewhere"


def _uploaded(answer: Answer) -> _probe.ProbeResult:
    """A real upload's answer (``--real-upload``) as the probe's result type, to be judged
    and worded as a probe's: one file let through is as bad as all of them."""
    if answer.accepted or any(200 <= f.status < 300 for f in answer.files):
        summary = answer.summary
        return _probe.ProbeResult(
            _probe.ACCEPTED, summary, "uploaded", answer.status, security=True, answer=summary
        )
    if answer.status is None:
        return _probe.ProbeResult(_probe.INCONCLUSIVE, answer.summary, "unreachable")
    kind = _probe.classify(answer.status, answer.reason).kind or "unexpected"
    return _probe.ProbeResult(
        _probe.REFUSED, answer.reason, kind, answer.status, answer=answer.summary
    )


def _classify(answer: Answer, expected_reason: str) -> Outcome:
    """The verdict on a real upload's answer (``Expectation.judge``, the probe's rule)."""
    return _probe.Expectation(expected_reason).judge(_uploaded(answer))


def _negative(
    config: Config,
    derived: Token,
    built: Built | OwnFiles,
    expected: _probe.Expectation,
    *,
    real_upload: bool,
    timeouts: Timeouts | None,
    progress: Progress,
    allow_other_host: bool,
) -> tuple[Answer, _probe.ProbeResult]:
    """Send the negative upload; the answer, and the verdict as the probe's result.

    The real file goes with a wrong digest through the calibrated probe, so
    nothing is published whatever the index decides. Only an index that
    cannot be probed, and only with ``real_upload``, gets the real files.
    """
    result = _probe.probe(
        config.index_url,
        derived.dump(),
        built.project,
        built.wheel,
        expected=expected,
        check_exists=False,  # quota_guard asked already
        allow_other_host=allow_other_host,
        timeout=probe_timeout(timeouts),
        progress=progress,
        secrets=(config.token.dump(),),
    )
    answer = result_answer(result, built.wheel.name)
    if result.security:
        progress(
            "the index accepted the token; nothing was published (the wrong digest stopped it)"
        )
        return answer, result
    if result.outcome == _probe.REFUSED:
        return answer, result
    if result.kind == "unreachable":
        return Answer(False, None, "", (), result.detail), result
    if not real_upload:
        return answer, result
    progress(
        f"the index can't be probed ({result.detail}); --real-upload: uploading the real files"
    )
    answer = _send(config, built, derived, timeouts, progress)
    return answer, dataclasses.replace(_uploaded(answer), expected=expected)


def verify_rejection(
    config: Config,
    project: str,
    *,
    other: str | None = None,
    case: str = "project",
    version: str | None = None,
    allow_production: bool = False,
    allow_other_host: bool = False,
    allow_new_project: bool = False,
    real_upload: bool = False,
    own: OwnFiles | None = None,
    timeouts: Timeouts | None = None,
    progress: Progress = _silent,
) -> VerifyReport:
    """Prove the index refuses a token whose restriction excludes this upload.

    The derived token is first judged offline: if it would not be refused for
    the expected reason, the test could not show anything, so nothing is sent.
    A missing project is refused (``quota_guard``) unless
    ``allow_new_project``; the upload itself carries a wrong digest, so
    nothing is ever published (``_negative``), unless the index cannot be
    probed and ``real_upload`` is set. ``own``: the user's own files of
    ``project`` are sent instead of the sample (nothing is built).
    """
    started = time.perf_counter()
    if case not in CASES:
        raise ConfigError(f"unknown case {escape(repr(case))}: use one of {', '.join(CASES)}")
    check_destination(
        config.token.domain,
        config.index_url,
        allow_production=allow_production,
        allow_other_host=allow_other_host,
    )
    tokentool.normalize_project(project)
    now = int(time.time())
    if case == "project":
        other = other or default_other(project)
        if tokentool.normalize_project(other) == tokentool.normalize_project(project):
            raise ConfigError(
                f"--other={other!r} is the same project as {project!r}: "
                "the token would be allowed, so nothing could be proven"
            )
        derived = tokentool.derive(config.token, project_names=[other], ttl=DEFAULT_TTL, now=now)
    else:
        if other:
            raise ConfigError("--other only applies to --case=project")
        other = None
        derived = tokentool.derive(
            config.token,
            project_names=[project],
            not_before=now - 7200,
            not_after=now - 3600,
            now=now,
            allow_unusable=True,
        )
    expected = _EXPECTED[case].format(project=project)
    prediction = derived.evaluate(project, at=now)
    if prediction.allowed or expected not in prediction.reasons:
        raise ConfigError(
            f"the derived token would not be refused for {project!r} with {expected!r} "
            f"(offline check: {prediction.message}); the base token cannot show this case"
        )
    progress(config.source_line)
    restrictions = tuple(derived.explain()["summary"])
    unreachable = ""
    try:
        # Before anything is sent: a first upload of a new name spends quota.
        display = quota_guard(
            config, project, allow_new_project=allow_new_project, timeouts=timeouts
        )
    except _probe.ProbeError as exc:
        # The probe's words already say "index unreachable" or what the index answered.
        display, unreachable = project, str(exc)
    # Warehouse quotes the project's stored name (``context.name``), not the typed one.
    expected = _EXPECTED[case].format(project=display)
    prediction = derived.evaluate(project, at=now, display_name=display)
    expectation = _probe.Expectation(
        expected, prediction.message, other if case == "project" else None, config.index_url
    )
    with tempfile.TemporaryDirectory(prefix="tokentool-verify-") as tmp:
        if own is not None:
            built: Built | OwnFiles = own
            progress(f"your file of {escape(own.project)}: {escape(own.wheel.name)}")
        else:
            built = build_sample(project, Path(tmp) / "dist", version)
            progress(built_line(built))
        target = f"restricted to {other}" if case == "project" else "expired"
        progress(f"derived token ({target}) restrictions: " + "; ".join(restrictions))
        progress(f"offline check: {prediction.message}")
        if unreachable:
            answer = Answer(False, None, "", (), escape(unreachable))
            result = _probe.ProbeResult(
                _probe.INCONCLUSIVE, unreachable, "unreachable", expected=expectation
            )
        else:
            answer, result = _negative(
                config,
                derived,
                built,
                expectation,
                real_upload=real_upload,
                timeouts=timeouts,
                progress=progress,
                allow_other_host=allow_other_host,
            )
    return VerifyReport(
        built,
        case,
        other,
        restrictions,
        prediction,
        expected,
        answer,
        result,
        time.perf_counter() - started,
        config.source,
    )
