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

import inspect as _inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit, Task, task

from tokentool.index.settings import ServeSettings
from tokentool.options import COMMANDS, DEFAULT_TTL, TTL, option

if TYPE_CHECKING:
    from tokentool.workflow import Config

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

# The small tasks share these options with the workflow commands: the same words.
_URL_HELP = option("upload", "repository-url").text
_OLD_URL_HELP = option("upload", "index-url").text
_PROJECT_HELP = option("cycle", "project").text
_VERSION_HELP = option("cycle", "version").text


@contextmanager
def _errors(failure: int = 1) -> Iterator[None]:
    """The toolkit's one failure path (``tokentool._errors.describe``), as Invoke's ``Exit``."""
    import os

    try:
        yield
    except Exit:
        raise
    except (Exception, KeyboardInterrupt) as exc:
        # Not through the workflow: describing a failure must not need its extras.
        from tokentool._errors import describe

        message, code = describe(exc)
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


class _WorkflowTask(Task):  # type: ignore[misc]
    """Long options only, plus ``-p`` for ``--project``: the short flags ``tokentool`` has.

    (Invoke's automatic short flags take a letter of each name, ``-`` included.)
    """

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name == "project":
            opts["names"] = [*opts["names"], "p"]
        return opts


def _workflow_task(command: str) -> Task:
    """The Invoke task of a workflow command, made from its one declaration (``options``).

    Its signature (hence Invoke's flags, types and defaults), its help and its
    docstring all come from ``COMMANDS[command]``, the declaration
    ``tokentool COMMAND`` is parsed with; the run is the same ``_run.run``.
    """
    spec = COMMANDS[command]
    kind = _inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [_inspect.Parameter("c", kind, annotation=Context)] + [
        _inspect.Parameter(o.dest, kind, default=None if o.repeatable else o.default)
        for o in spec.options
    ]

    def body(c: Context, **given: object) -> None:
        with _errors(failure=2 if command in ("probe", "conformance") else 1):
            from tokentool.options import OptionError, Settings
            from tokentool.workflow._run import run

            _warn_if_chained()
            try:
                settings = Settings.from_values(spec, given)
            except OptionError as exc:
                raise Exit(f"error: {exc}", code=2) from None
            failure = run(settings, _root(c), _say)
            if failure is not None:
                shown = f"error: {failure.message}" if failure.error else failure.message
                raise Exit(shown or None, code=failure.code)

    body.__name__ = body.__qualname__ = command.replace("-", "_")
    body.__doc__ = spec.doc
    body.__signature__ = _inspect.Signature(parameters)  # type: ignore[attr-defined]
    return task(  # type: ignore[no-any-return]
        name=command,
        help={o.name: o.text for o in spec.options},
        auto_shortflags=False,
        klass=_WorkflowTask,
        iterable=[o.dest for o in spec.options if o.repeatable],
    )(body)


upload = _workflow_task("upload")
verify_rejection = _workflow_task("verify-rejection")
cycle = _workflow_task("cycle")
probe = _workflow_task("probe")
conformance = _workflow_task("conformance")


@task(help={"project": _PROJECT_HELP, "ttl": TTL.text, "repository-url": _URL_HELP})
def token(
    c: Context,
    project: str | None = None,
    ttl: str = DEFAULT_TTL,
    repository_url: str | None = None,
) -> None:
    """Print a token restricted to NAME on stdout (source and restrictions on stderr)."""
    with _errors():
        from tokentool import workflow

        config = _config(c, repository_url, project=project)
        name = config.project_or_default(project)
        derived = workflow.derive_for(config, name, ttl)
        print(config.source_line, file=sys.stderr)
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
        "data-dir": ServeSettings.help("data_dir"),
        "host": ServeSettings.help("host"),
        "port": ServeSettings.help("port"),
        "database": ServeSettings.help("database"),
    }
)
def index(
    c: Context,
    data_dir: str | None = None,
    host: str = ServeSettings.host,
    port: int = ServeSettings.port,
    database: str | None = ServeSettings.database,
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
