"""Invoke tasks: the seed tutorial's manual flow as commands, for any project.

A project's own ``tasks.py`` is one line, ``from tokentool.tasks import *``
(this repository's too). Thin on purpose: options in, ``tokentool.workflow``
out. The project root is the folder holding that ``tasks.py`` (where Invoke
found it): its ``.env``, ``dist/`` and ``.tokentool/`` are used from any
subfolder. Tasks never run a shell command with a token in it (``--echo``
shows nothing secret), print each step as it happens, and import the toolkit
only when a task runs, so ``invoke --list`` stays instant. ``invoke --help
TASK`` for every option.

The whole cycle: ``invoke cycle --project=NAME``; the whole demo on a
throwaway stand-in: ``invoke`` (``make demo``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Context, Exit, task

from tokentool._root import DEFAULT_PORT

if TYPE_CHECKING:
    from tokentool.workflow import Config, Timeouts

__all__ = [
    "build",
    "conformance",
    "cycle",
    "demo",
    "index",
    "inspect",
    "probe",
    "token",
    "upload",
    "verify_rejection",
]

_URL_HELP = (
    "upload URL, as twine's --repository-url; overrides REPOSITORY_URL "
    "(default https://test.pypi.org/legacy/)"
)
_OLD_URL_HELP = "old name of --repository-url"
_PROJECT_HELP = "project name (default: test-<PYPI_USERNAME>-<YYYY-MM-DD>)"
_VERSION_HELP = "version to build (default: a new 0.0.<microseconds> on every run)"
_TTL_HELP = "validity of the derived token, e.g. 15m, 2h; 'none' for no window"
_PROD_HELP = "allow uploading the throwaway project to production pypi.org"
_HOST_HELP = "send a private index's token to a host other than the one it names"
_CONNECT_HELP = "seconds to wait for a connection to the index (default 10)"
_READ_HELP = "seconds to wait for the index's answer to each file (default 60)"
_OTHER_HELP = "project the wrong token is restricted to (default: NAME-elsewhere)"
_CASE_HELP = "'project' (token for another project) or 'expired' (window in the past)"
_NEW_HELP = (
    "send the negative upload even if NAME does not exist yet (the index creates it first "
    "and counts it against your new-project quota, even when it refuses the token)"
)
_REAL_HELP = (
    "if the index can't be probed (it does not judge tokens before files), upload the real "
    "files instead: publishes them if the index wrongly accepts the token"
)

_SEND_HELP = {
    "project": _PROJECT_HELP,
    "version": _VERSION_HELP,
    "repository-url": _URL_HELP,
    "index-url": _OLD_URL_HELP,
    "allow-production": _PROD_HELP,
    "allow-other-host": _HOST_HELP,
    "connect-timeout": _CONNECT_HELP,
    "read-timeout": _READ_HELP,
}


@contextmanager
def _errors(failure: int = 1) -> Iterator[None]:
    """The toolkit's one failure path (``describe_failure``), as Invoke's ``Exit`` (``failure``)."""
    import os

    try:
        yield
    except Exit:
        raise
    except (Exception, KeyboardInterrupt) as exc:
        from tokentool.workflow import describe_failure

        message, code = describe_failure(exc)
        if code == 70 and os.environ.get("TOKENTOOL_DEBUG"):
            raise
        raise Exit(f"error: {message}", code=130 if code == 130 else failure) from None


def _root(c: Context) -> Path:
    """The folder Invoke loaded ``tasks.py`` from, else the same search by hand."""
    prefix = getattr(c.config, "_project_prefix", None)
    if prefix:
        return Path(prefix)
    from tokentool.workflow import find_root

    return find_root()


def _say(line: str) -> None:
    print(line, flush=True)


def _config(
    c: Context,
    repository_url: str | None,
    index_url: str | None = None,
    project: str | None = None,
) -> Config:
    from tokentool.workflow import settings

    _warn_if_chained()
    return settings(_root(c), repository_url, index_url, project=project)


_warned: list[bool] = []


def _warn_if_chained(argv: list[str] | None = None) -> None:
    """``invoke upload verify-rejection --project=x`` gives ``--project`` to the last task only."""
    words = set(sys.argv[1:] if argv is None else argv)
    tasks = {"upload", "verify-rejection", "cycle", "token", "inspect", "probe", "conformance"}
    chained = len(words & tasks) > 1
    if chained and not _warned:
        _warned.append(True)
        print(
            "warning: Invoke gives each option to the task before it; for one set of "
            "options use: invoke cycle --project=NAME",
            file=sys.stderr,
        )


def _timeouts(connect: float, read: float) -> Timeouts:
    from tokentool.workflow import Timeouts

    return Timeouts(float(connect), float(read))


@task(help={"project": "project name to build under (required)", "version": _VERSION_HELP})
def build(c: Context, project: str, version: str | None = None) -> None:
    """Build the bundled sample project as NAME: an sdist and a wheel in the root's dist/."""
    with _errors():
        from tokentool.workflow import build_sample, check_version, new_version

        version = check_version(version) if version else new_version()
        outdir = Path("dist") / f"{project}-{version}"
        built = build_sample(project, _root(c) / outdir, version)
        _say(f"built {built.project} {built.version} into {outdir}/:")
        for file in built.files:
            _say(f"  {file.name}")


def _destination(
    c: Context, project: str | None, send: dict[str, object], config: Config | None = None
) -> tuple[Config, str, Timeouts]:
    """The config, project name and timeouts of a sending task; takes their options off ``send``.

    ``config``: already loaded (``cycle`` loads it once: one hidden prompt, not one a step).
    """
    url, old_url = send.pop("repository_url"), send.pop("index_url")
    config = config or _config(c, url, old_url, project)  # type: ignore[arg-type]
    timeouts = _timeouts(send.pop("connect_timeout"), send.pop("read_timeout"))  # type: ignore[arg-type]
    return config, config.project_or_default(project), timeouts


def _upload(
    c: Context,
    project: str | None,
    version: str | None,
    ttl: str,
    config: Config | None = None,
    **send: object,
) -> None:
    from tokentool import workflow

    config, name, timeouts = _destination(c, project, send, config)
    report = workflow.upload(
        config, name, version=version, ttl=ttl, timeouts=timeouts, progress=_say, **send
    )
    if not report.ok:
        raise Exit(f"error: {report.message}", code=1)
    _say(report.message)


def _verify(
    c: Context,
    project: str | None,
    version: str | None,
    other: str | None,
    case: str,
    config: Config | None = None,
    **send: object,
) -> None:
    from tokentool import workflow

    config, name, timeouts = _destination(c, project, send, config)
    report = workflow.verify_rejection(
        config,
        name,
        other=other,
        case=case,
        version=version,
        timeouts=timeouts,
        progress=_say,
        **send,  # type: ignore[arg-type]
    )
    _say(f"index answer: {report.answer.summary}")
    if not report.ok:
        # The verdict line stands alone: "SECURITY: ..." must not read "error: SECURITY".
        raise Exit(report.message, code=1)
    _say(report.message)


@task(help={**_SEND_HELP, "ttl": _TTL_HELP})
def upload(
    c: Context,
    project: str | None = None,
    version: str | None = None,
    ttl: str = "15m",
    repository_url: str | None = None,
    index_url: str | None = None,
    allow_production: bool = False,
    allow_other_host: bool = False,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> None:
    """Build NAME, derive a token restricted to it, upload both files with that token."""
    with _errors():
        _upload(
            c,
            project,
            version,
            ttl,
            repository_url=repository_url,
            index_url=index_url,
            allow_production=allow_production,
            allow_other_host=allow_other_host,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )


_VERIFY_HELP = {
    "other": _OTHER_HELP,
    "case": _CASE_HELP,
    "allow-new-project": _NEW_HELP,
    "real-upload": _REAL_HELP,
}


@task(name="verify-rejection", help={**_SEND_HELP, **_VERIFY_HELP})
def verify_rejection(
    c: Context,
    project: str | None = None,
    other: str | None = None,
    case: str = "project",
    version: str | None = None,
    repository_url: str | None = None,
    index_url: str | None = None,
    allow_production: bool = False,
    allow_other_host: bool = False,
    allow_new_project: bool = False,
    real_upload: bool = False,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> None:
    """Prove the index refuses NAME's upload with a token restricted elsewhere; publishes nothing.

    The real file goes with a wrong digest, after two controls prove the index
    judges tokens before files (warehouse's order). NAME must exist already.
    """
    with _errors():
        _verify(
            c,
            project,
            version,
            other,
            case,
            repository_url=repository_url,
            index_url=index_url,
            allow_production=allow_production,
            allow_other_host=allow_other_host,
            allow_new_project=allow_new_project,
            real_upload=real_upload,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )


@task(
    help={
        **_SEND_HELP,
        "ttl": _TTL_HELP,
        "other": _OTHER_HELP,
        "case": _CASE_HELP,
        "real-upload": _REAL_HELP,
    }
)
def cycle(
    c: Context,
    project: str | None = None,
    version: str | None = None,
    ttl: str = "15m",
    other: str | None = None,
    case: str = "project",
    repository_url: str | None = None,
    index_url: str | None = None,
    allow_production: bool = False,
    allow_other_host: bool = False,
    real_upload: bool = False,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> None:
    """Upload NAME, then verify-rejection on NAME: the whole check, one set of options.

    The upload creates NAME, so the negative step's quota guard passes.
    """
    send: dict[str, object] = {
        "repository_url": repository_url,
        "index_url": index_url,
        "allow_production": allow_production,
        "allow_other_host": allow_other_host,
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
    }
    with _errors():
        config = _config(c, repository_url, index_url, project)  # one token, one prompt
        _say("== upload")
        _upload(c, project, version, ttl, config, **send)
        _say("== verify-rejection")
        _verify(c, project, None, other, case, config, real_upload=real_upload, **send)


_PROBE_HELP = {
    "project": _PROJECT_HELP,
    "version": "version of the sample file sent (default: a new 0.0.<microseconds>)",
    "repository-url": _URL_HELP,
    "index-url": _OLD_URL_HELP,
    "allow-other-host": _HOST_HELP,
    "allow-new-project": "probe even if NAME does not exist yet (the index would create it "
    "and count it against your new-project quota)",
    "expect-refusal": "the token should be refused: an acceptance is a SECURITY failure (exit 4)",
    "connect-timeout": _CONNECT_HELP,
    "read-timeout": _READ_HELP,
}


@task(help=_PROBE_HELP)
def probe(
    c: Context,
    project: str | None = None,
    version: str | None = None,
    repository_url: str | None = None,
    index_url: str | None = None,
    allow_other_host: bool = False,
    allow_new_project: bool = False,
    expect_refusal: bool = False,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> None:
    """Would the index accept your token for NAME? Publishes and creates nothing.

    Exit 0 accepted, 1 refused (the reason, named), 2 bad input, 3
    inconclusive (why), 4 SECURITY (--expect-refusal and it was accepted).
    Safe on production pypi.org.
    """
    with _errors(failure=2):
        from tokentool import workflow

        config = _config(c, repository_url, index_url, project)
        report = workflow.probe(
            config,
            config.project_or_default(project),
            version=version,
            allow_new_project=allow_new_project,
            expect_refusal=expect_refusal,
            allow_other_host=allow_other_host,
            timeouts=_timeouts(connect_timeout, read_timeout),
            progress=_say,
        )
        if report.exit_code:
            raise Exit(report.message, code=report.exit_code)
        _say(report.message)


@task(
    help={
        "project": "an existing project the token may upload to (required)",
        "repository-url": _URL_HELP,
        "index-url": _OLD_URL_HELP,
        "json": 'print {"cases": [...]} instead of the table',
        "allow-production": "ask production pypi.org too",
        "allow-other-host": _HOST_HELP,
        "connect-timeout": _CONNECT_HELP,
        "read-timeout": _READ_HELP,
    }
)
def conformance(
    c: Context,
    project: str,
    repository_url: str | None = None,
    index_url: str | None = None,
    json: bool = False,
    allow_production: bool = False,
    allow_other_host: bool = False,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> None:
    """Does the index still answer as tokentool predicts Test PyPI answers? Publishes nothing.

    Exit 0 all as predicted, 1 a difference, 2 bad input, 3 could not run
    (project missing, index unreachable), 4 SECURITY (a token that must be
    refused was accepted).
    """
    with _errors(failure=2):
        from tokentool import conformance as _conformance

        config = _config(c, repository_url, index_url)
        timeouts = _timeouts(connect_timeout, read_timeout)
        report = _conformance.conformance(
            config.index_url,
            config.token,
            project,
            allow_production=allow_production,
            allow_other_host=allow_other_host,
            timeout=(timeouts.connect, timeouts.read),
            progress=None if json else _say,
        )
        print(_conformance.render(report, as_json=json), flush=True)
        if report.exit_code:
            raise Exit(code=report.exit_code)


@task(help={"project": _PROJECT_HELP, "ttl": _TTL_HELP, "repository-url": _URL_HELP})
def token(
    c: Context, project: str | None = None, ttl: str = "15m", repository_url: str | None = None
) -> None:
    """Print a token restricted to NAME on stdout (source and restrictions on stderr)."""
    with _errors():
        from tokentool import workflow

        config = _config(c, repository_url, project=project)
        name = config.project_or_default(project)
        derived = workflow.derive_for(config, name, ttl)
        print(f"token from: {config.source}", file=sys.stderr)
        print("restrictions: " + "; ".join(derived.explain()["summary"]), file=sys.stderr)
        sys.stdout.write(derived.dump() + "\n")


@task(help={"repository-url": _URL_HELP, "index-url": _OLD_URL_HELP})
def inspect(c: Context, repository_url: str | None = None, index_url: str | None = None) -> None:
    """Where the token comes from and what it is (issuer, restrictions), never the token."""
    with _errors():
        from tokentool import workflow

        for line in workflow.inspect_lines(_config(c, repository_url, index_url)):
            _say(line)


@task(
    help={
        "data-dir": "where the stand-in keeps accounts, tokens and packages "
        "(default: .tokentool/index in the project root)",
        "host": "address to listen on (default 127.0.0.1)",
        "port": f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
        "database": "postgresql://... URL: the state (and, without --data-dir, the package "
        "files) in PostgreSQL, shared by every stand-in on it (default: SQLite in --data-dir)",
    }
)
def index(
    c: Context,
    data_dir: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    database: str | None = None,
) -> None:
    """Run the local stand-in for Test PyPI in the foreground (Ctrl-C stops it).

    It prints its upload URL (REPOSITORY_URL for .env) and how to mint a token.
    """
    with _errors():
        from tokentool import workflow

        folder = data_dir or (None if database else str(_root(c) / ".tokentool" / "index"))
        code = workflow.serve_index(folder, host, port, database)
        if code:
            raise Exit(code=code)


@task(default=True)
def demo(c: Context) -> None:
    """The whole flow on a throwaway stand-in: upload, two refusals, pip install (make demo)."""
    with _errors():
        from tokentool import workflow

        if not workflow.run_demo(sys.stdout):
            raise Exit(code=1)
