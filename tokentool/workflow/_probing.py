"""Negative uploads that publish nothing and spend no quota: the guard, the probe, its verdict.

Two traps on the real site. Test PyPI creates a missing project *before* it
judges the token (``forklift.legacy.file_upload`` calls ``create_project``
ahead of ``has_permission``) and counts it against the user's new-project
limit even when the upload is then refused: ``quota_guard`` asks the JSON API
first. And a negative check that sends the real file publishes it if the index
wrongly accepts the token: ``_flow._negative`` sends it with a wrong digest
through the calibrated probe of ``tokentool.probe``, so an acceptance comes
back as ``400 The digest supplied does not match ...`` with nothing stored.
The workflow calls the probe, never the other way round.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from tokentool import probe as _probe
from tokentool._safety import escape
from tokentool.exceptions import ConfigError
from tokentool.sites import check_destination
from tokentool.workflow._build import build_sample
from tokentool.workflow._client import Answer, FileAnswer, Timeouts
from tokentool.workflow._config import Config
from tokentool.workflow._dists import OwnFiles

__all__ = ["ProbeReport", "probe", "probe_timeout", "quota_guard", "result_answer"]


def probe_timeout(timeouts: Timeouts | None) -> tuple[float, float]:
    """``Timeouts`` (default when ``None``) as the probe's ``(connect, read)``."""
    timeouts = timeouts or Timeouts()
    return (timeouts.connect, timeouts.read)


def quota_guard(
    config: Config, project: str, *, allow_new_project: bool, timeouts: Timeouts | None
) -> str:
    """The project's stored display name, before any negative upload to it.

    A missing project raises ``ConfigError`` (one sentence: why, and what to
    do) unless ``allow_new_project``; then the typed name is what warehouse
    would store and quote. No answer raises ``_probe.ProbeError``.
    """
    stored = _probe.project_name(config.index_url, project, timeout=probe_timeout(timeouts))
    if stored is not None:
        return stored
    if not allow_new_project:
        raise ConfigError(_probe.new_project_sentence(project))
    return project


def result_answer(result: _probe.ProbeResult, filename: str) -> Answer:
    """The probe's last answer as the workflow's ``Answer`` (never ``accepted``: nothing stored)."""
    status, _sep, reason = result.answer.partition(" ")
    if not status.isdigit():
        return Answer(False, None, "", (), result.detail)
    code = int(status)
    return Answer(False, code, reason, (FileAnswer(filename, code, reason),))


@dataclasses.dataclass(frozen=True)
class ProbeReport:
    """``invoke probe``: what the index would do with the token, and the exit code."""

    project: str
    result: _probe.ProbeResult
    source: str = ""

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    @property
    def message(self) -> str:
        """The probe's one printer (``tokentool.probe.describe``), as ``tokentool probe``."""
        return _probe.describe(self.result, self.project)


def probe(
    config: Config,
    project: str,
    *,
    version: str | None = None,
    allow_new_project: bool = False,
    expect_refusal: bool = False,
    allow_other_host: bool = False,
    own: OwnFiles | None = None,
    timeouts: Timeouts | None = None,
    progress: _probe.Progress | None = None,
) -> ProbeReport:
    """Would the index accept the configured token for an upload of ``project``?

    Safe against production: every request carries a wrong digest (nothing is
    published) and a missing project is not probed (nothing is created), unless
    ``allow_new_project``. ``own``: the user's own file of ``project`` is sent
    instead of the sample (nothing is built).
    """
    say = progress or (lambda _line: None)
    dest = check_destination(
        config.token.domain,
        config.index_url,
        allow_production=True,
        allow_other_host=allow_other_host,
    )
    say(config.source_line)
    try:
        stored = _probe.project_name(dest, project, timeout=probe_timeout(timeouts))
    except _probe.ProbeError as exc:
        return ProbeReport(
            project, _probe.ProbeResult(_probe.INCONCLUSIVE, str(exc), "unreachable")
        )
    if stored is None and not allow_new_project:
        sentence = _probe.new_project_sentence(project)
        return ProbeReport(
            project, _probe.ProbeResult(_probe.INCONCLUSIVE, sentence, "new-project")
        )
    with tempfile.TemporaryDirectory(prefix="tokentool-probe-") as tmp:
        if own is not None:
            sent = own.wheel
            mine = f"your file of {escape(own.project)}: {escape(sent.name)}"
            say(f"{mine} (sent with a wrong digest)")
        else:
            built = build_sample(project, Path(tmp) / "dist", version)
            sent = built.wheel
            say(f"built {built.project} {built.version}: {sent.name} (sent with a wrong digest)")
        result = _probe.probe(
            dest,
            config.token.dump(),
            project,
            sent,
            expect_refusal=expect_refusal,
            check_exists=False,
            allow_other_host=allow_other_host,
            timeout=probe_timeout(timeouts),
            progress=say,
        )
    return ProbeReport(project, result, config.source)
