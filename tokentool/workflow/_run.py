"""One run of ``upload | verify-rejection | cycle | probe | conformance``, from either face.

``tokentool NAME`` and ``invoke NAME`` both read their options into one
``tokentool.options.Settings`` and hand it here, so the two faces run the same
steps and print the same lines; they differ only in how a failure leaves
(``tokentool: error: ...`` and an exit code, or Invoke's ``Exit``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from tokentool.options import Settings
from tokentool.workflow._client import Timeouts
from tokentool.workflow._config import Config
from tokentool.workflow._dists import OwnFiles, find_dists, group_by_project
from tokentool.workflow._flow import upload, upload_own, verify_rejection
from tokentool.workflow._probing import probe

__all__ = ["Failure", "run"]

Say = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Failure:
    """How a run ended badly: the sentence, the exit code, and whether it reads as an error.

    A verdict (``SECURITY: ...``, a probe's ``refused: ...``) stands alone;
    anything else is worded ``error: ...`` by the face.
    """

    message: str
    code: int = 1
    error: bool = True


def _own(settings: Settings, named: tuple[str, ...]) -> list[OwnFiles] | None:
    if not settings.dist:
        return None
    return group_by_project(find_dists(settings.dist), named)


def _one(settings: Settings) -> OwnFiles | None:
    """The user's files of the one project a negative check or probe sends."""
    groups = _own(settings, (settings.project,) if settings.project else ())
    if groups is None:
        return None
    return groups[0]


def _upload(settings: Settings, config: Config, timeouts: Timeouts, say: Say) -> Failure | None:
    guards = {
        "allow_production": settings.allow_production,
        "allow_other_host": settings.allow_other_host,
    }
    groups = _own(settings, tuple(settings.values.get("project") or ()))
    if groups is not None:
        reports = upload_own(
            config, groups, ttl=settings.ttl, timeouts=timeouts, progress=say, **guards
        )
    else:
        name = config.project_or_default(settings.project)
        reports = [
            upload(
                config,
                name,
                version=settings.version,
                ttl=settings.ttl,
                timeouts=timeouts,
                progress=say,
                **guards,
            )
        ]
    for report in reports:
        if not report.ok:
            return Failure(report.message)
        say(report.message)
    return None


def _verify(
    settings: Settings, config: Config, timeouts: Timeouts, say: Say, *, after_upload: bool
) -> Failure | None:
    own = None if after_upload else _one(settings)
    name = own.project if own else config.project_or_default(settings.project)
    report = verify_rejection(
        config,
        name,
        other=settings.other,
        case=settings.case,
        version=None if after_upload else settings.version,
        allow_production=settings.allow_production,
        allow_other_host=settings.allow_other_host,
        allow_new_project=settings.allow_new_project,
        real_upload=settings.real_upload,
        own=own,
        timeouts=timeouts,
        progress=say,
    )
    say(f"index answer: {report.answer.summary}")
    if not report.ok:
        return Failure(report.message, error=False)
    say(report.message)
    return None


def _probe(settings: Settings, config: Config, timeouts: Timeouts, say: Say) -> Failure | None:
    own = _one(settings)
    name = own.project if own else config.project_or_default(settings.project)
    report = probe(
        config,
        name,
        version=settings.version,
        allow_new_project=settings.allow_new_project,
        expect_refusal=settings.expect_refusal,
        allow_other_host=settings.allow_other_host,
        own=own,
        timeouts=timeouts,
        progress=None if settings.json else say,
    )
    if settings.json:
        print(json.dumps({"project": name, **report.result.as_data()}), flush=True)
        return Failure("", report.exit_code, error=False) if report.exit_code else None
    if report.exit_code:
        return Failure(report.message, report.exit_code, error=False)
    say(report.message)
    return None


def _conformance(
    settings: Settings, config: Config, timeouts: Timeouts, say: Say
) -> Failure | None:
    from tokentool import conformance

    report = conformance.conformance(
        config.index_url,
        config.token,
        settings.project,
        allow_production=settings.allow_production,
        allow_other_host=settings.allow_other_host,
        timeout=(timeouts.connect, timeouts.read),
        progress=None if settings.json else say,
    )
    print(conformance.render(report, as_json=settings.json), flush=True)
    return Failure("", report.exit_code, error=False) if report.exit_code else None


def run(settings: Settings, root: Path, say: Say) -> Failure | None:
    """Load the project's settings at ``root`` (one token, one prompt, also for ``cycle``)
    and run the command; ``None`` when it passed."""
    from tokentool.workflow import settings as load

    command = settings.command.name
    # A sample's name is checked before a token is looked for (or asked for).
    named = settings.project if command != "conformance" and not settings.dist else None
    config = load(root, settings.repository_url, settings.index_url, project=named)
    timeouts = Timeouts(settings.connect_timeout, settings.read_timeout)
    if command == "conformance":
        return _conformance(settings, config, timeouts, say)
    if command == "probe":
        return _probe(settings, config, timeouts, say)
    if command == "cycle":
        say("== upload")
    if command in ("upload", "cycle"):
        failure = _upload(settings, config, timeouts, say)
        if failure or command == "upload":
            return failure
        say("== verify-rejection")
    return _verify(settings, config, timeouts, say, after_upload=command == "cycle")
