"""The upload workflow: what ``invoke upload|verify-rejection|cycle|probe``, ``tokentool
upload|verify-rejection|cycle`` and the demo run — the curated public API.

Everything a caller needs is here; the modules behind it are private:
``_config`` (settings and guards), ``_sources`` (where the token comes from),
``_build`` (the bundled sample project), ``_dists`` (your own built files),
``_client`` (twine, file by file), ``_flow`` (the steps), ``_run`` (one run
of a command, for both faces), ``_probing`` (the quota guard and ``invoke
probe`` over the public ``tokentool.probe``), ``_demo``. Where a token may be
sent is ``tokentool.sites``. Typical use::

    from tokentool import workflow

    config = workflow.load_config(workflow.find_root() / ".env")
    report = workflow.upload(config, "my-project", progress=print)
    print(report.message)

Installed with ``pip install 'tokentool[upload]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from tokentool._errors import describe as describe_failure
from tokentool._root import DEFAULT_PORT, find_root
from tokentool.workflow._build import (
    SAMPLE_MODULE,
    BuildError,
    Built,
    build_sample,
    check_version,
    new_version,
    sample_files,
)
from tokentool.workflow._client import Answer, FileAnswer, Timeouts
from tokentool.workflow._config import (
    DEFAULT_INDEX_URL,
    KEYS,
    Config,
    check_buildable_name,
    check_destination,
    check_url,
    default_project,
    load_config,
    site_of,
)
from tokentool.workflow._dists import Dist, OwnFiles, find_dists, group_by_project, read_dist
from tokentool.workflow._flow import (
    CASES,
    Outcome,
    Progress,
    UploadReport,
    VerifyReport,
    built_line,
    default_other,
    derive_for,
    parse_ttl,
    upload,
    upload_own,
    verify_rejection,
    view_url,
)
from tokentool.workflow._probing import ProbeReport, probe, quota_guard
from tokentool.workflow._sources import SOURCES, terminal_prompt

__all__ = [
    "CASES",
    "DEFAULT_INDEX_URL",
    "DEFAULT_PORT",
    "KEYS",
    "SAMPLE_MODULE",
    "SOURCES",
    "Answer",
    "BuildError",
    "Built",
    "Config",
    "Dist",
    "FileAnswer",
    "Outcome",
    "OwnFiles",
    "ProbeReport",
    "Progress",
    "Timeouts",
    "UploadReport",
    "VerifyReport",
    "build_sample",
    "built_line",
    "check_buildable_name",
    "check_destination",
    "check_url",
    "check_version",
    "default_other",
    "default_project",
    "derive_for",
    "describe_failure",
    "find_dists",
    "find_root",
    "group_by_project",
    "inspect_lines",
    "load_config",
    "new_version",
    "parse_ttl",
    "probe",
    "quota_guard",
    "read_dist",
    "run_demo",
    "sample_files",
    "serve_index",
    "settings",
    "site_of",
    "terminal_prompt",
    "upload",
    "upload_own",
    "verify_rejection",
    "view_url",
]


def settings(
    root: Path,
    repository_url: str | None = None,
    index_url: str | None = None,
    *,
    warn: TextIO | None = None,
    project: str | None = None,
) -> Config:
    """The settings of the project at ``root``, as every face loads them.

    ``index_url`` is the old name of ``--repository-url``. A hidden prompt is
    offered only to a person at a terminal. Warnings go to ``warn`` (stderr).
    ``project``, the name given, is checked first: a bad one is refused before
    a token is looked for or asked for.
    """
    import sys

    if project:
        check_buildable_name(project)

    if repository_url and index_url and repository_url != index_url:
        from tokentool.exceptions import ConfigError

        raise ConfigError("--index-url is the old name of --repository-url: give only one")
    config = load_config(
        root / ".env", index_url=repository_url or index_url or None, prompt=terminal_prompt()
    )
    for line in config.warnings:
        print(line, file=warn or sys.stderr)
    return config


def inspect_lines(config: Config) -> list[str]:
    """``invoke inspect``: where the token came from, what it is, and whether it fits the URL."""
    from tokentool._safety import escape
    from tokentool.exceptions import ConfigError
    from tokentool.token._explain import format_explanation

    lines = [f"token from:  {escape(config.source)}", format_explanation(config.token.explain())]
    try:
        check_destination(config.token.domain, config.index_url, allow_production=True)
        lines.append(f"index:       {escape(config.index_url)} (the token's issuer matches)")
    except ConfigError as exc:
        lines.append(f"index:       {escape(config.index_url)} — {exc}")
    return lines


def run_demo(out: TextIO) -> bool:
    """The whole flow on a throwaway stand-in (``invoke demo``); ``True`` if every step passed."""
    from tokentool.workflow._demo import run

    return run(out)


def serve_index(data_dir: str | None, host: str, port: int, database: str | None = None) -> int:
    """Run the stand-in in the foreground, as ``tokentool index serve`` does."""
    from tokentool.index.__main__ import main
    from tokentool.index.settings import ServeSettings

    folder = Path(data_dir) if data_dir else None
    chosen = ServeSettings(data_dir=folder, host=host, port=port, database=database)
    return main(["serve", *chosen.argv()])
