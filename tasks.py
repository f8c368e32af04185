"""Invoke tasks: the seed tutorial's manual flow as commands.

Thin on purpose: options and ``.env`` in, calls into ``tokentool`` out. The
tasks never run a shell command with a token in it (``--echo`` shows nothing
secret) and import the toolkit only when a task runs, so ``invoke --list``
stays instant. Run ``invoke --help TASK`` for every option.

The whole cycle in one process: ``invoke upload verify-rejection``; the whole
demo on a throwaway stand-in: ``invoke`` (``make demo``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Context, Exit, task

if TYPE_CHECKING:
    from tokentool._config import Config

_INDEX_HELP = "upload URL; overrides INDEX_URL (default https://test.pypi.org/legacy/)"
_PROJECT_HELP = "project name (default: test-<PYPI_USERNAME>-<YYYY-MM-DD>)"
_VERSION_HELP = "version to build (default: a new 0.0.<microseconds> on every run)"
_PROD_HELP = "allow uploading the throwaway project to production pypi.org"


@contextmanager
def _errors() -> Iterator[None]:
    """Turn every failure into one sentence and exit 1: no traceback, no token."""
    from tokentool.exceptions import TokenError

    try:
        yield
    except TokenError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("error: interrupted", code=130) from None
    except Exit:
        raise
    except Exception as exc:
        if os.environ.get("TOKENTOOL_DEBUG"):
            raise
        # A library's message may quote its input, and the input may be a token.
        raise Exit(
            f"error: internal error ({type(exc).__name__}); rerun with TOKENTOOL_DEBUG=1",
            code=1,
        ) from None


def _config(index_url: str | None = None) -> Config:
    from tokentool._config import load_config

    config = load_config(Path(".env"), index_url=index_url or None)
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    return config


def _say(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def _finish(lines: list[str], ok: bool, prefix: str) -> None:
    """Print a report; on failure its last line (the verdict) becomes the exit message."""
    if ok:
        _say(lines)
        return
    _say(lines[:-1])
    raise Exit(prefix + lines[-1], code=1)


@task(help={"project": "project name to build under (required)", "version": _VERSION_HELP})
def build(c: Context, project: str, version: str | None = None) -> None:
    """Build the bundled sample project as NAME: an sdist and a wheel in a fresh dist/ folder."""
    with _errors():
        from tokentool._build import build_sample, check_version, new_version

        version = check_version(version) if version else new_version()
        outdir = Path("dist") / f"{project}-{version}"
        built = build_sample(project, outdir, version)
        _say(
            [f"built {built.project} {built.version} into {outdir}/:"]
            + [f"  {f.name}" for f in built.files]
        )


@task(
    help={
        "project": _PROJECT_HELP,
        "version": _VERSION_HELP,
        "ttl": "validity of the derived token, e.g. 15m, 2h; 'none' for no window",
        "index-url": _INDEX_HELP,
        "allow-production": _PROD_HELP,
    }
)
def upload(
    c: Context,
    project: str | None = None,
    version: str | None = None,
    ttl: str = "15m",
    index_url: str | None = None,
    allow_production: bool = False,
) -> None:
    """Build NAME, derive a token restricted to it, upload both files with that token."""
    with _errors():
        from tokentool import workflow

        config = _config(index_url)
        name = config.project_or_default(project)
        report = workflow.upload(
            config, name, version=version, ttl=ttl, allow_production=allow_production
        )
        _finish(workflow.format_upload(report), report.ok, prefix="error: ")


@task(
    name="verify-rejection",
    help={
        "project": _PROJECT_HELP,
        "other": "project the wrong token is restricted to (default: NAME-elsewhere)",
        "case": "'project' (token for another project) or 'expired' (window in the past)",
        "version": _VERSION_HELP,
        "index-url": _INDEX_HELP,
        "allow-production": _PROD_HELP,
    },
)
def verify_rejection(
    c: Context,
    project: str | None = None,
    other: str | None = None,
    case: str = "project",
    version: str | None = None,
    index_url: str | None = None,
    allow_production: bool = False,
) -> None:
    """Prove the index refuses an upload of NAME with a token restricted elsewhere (exit 0)."""
    with _errors():
        from tokentool import workflow

        config = _config(index_url)
        name = config.project_or_default(project)
        report = workflow.verify_rejection(
            config,
            name,
            other=other,
            case=case,
            version=version,
            allow_production=allow_production,
        )
        # The verdict line stands alone: "SECURITY: ..." must not read "error: SECURITY".
        _finish(workflow.format_verify(report), report.ok, prefix="")


@task(
    help={
        "project": _PROJECT_HELP,
        "ttl": "validity of the derived token, e.g. 15m, 2h; 'none' for no window",
    }
)
def token(c: Context, project: str | None = None, ttl: str = "15m") -> None:
    """Print a token restricted to NAME on stdout (restrictions on stderr), for piping."""
    with _errors():
        from tokentool import workflow

        config = _config()
        name = config.project_or_default(project)
        derived = workflow.derive_for(config, name, ttl)
        print("restrictions: " + "; ".join(derived.explain()["summary"]), file=sys.stderr)
        sys.stdout.write(derived.dump() + "\n")


@task(help={"index-url": _INDEX_HELP})
def inspect(c: Context, index_url: str | None = None) -> None:
    """Explain the .env token (issuer, identifier, restrictions) without printing it."""
    with _errors():
        from tokentool.__main__ import format_explanation
        from tokentool._config import check_destination
        from tokentool.exceptions import ConfigError

        config = _config(index_url)
        lines = [f"token from:  {config.source}", format_explanation(config.token.explain())]
        try:
            check_destination(config.token, config.index_url, allow_production=True)
            lines.append(f"index:       {config.index_url} (the token's issuer matches)")
        except ConfigError as exc:
            lines.append(f"index:       {config.index_url} — {exc}")
        _say(lines)


@task(
    help={
        "data-dir": "where the stand-in keeps accounts, tokens and packages",
        "host": "address to listen on (default 127.0.0.1)",
        "port": "port to listen on (default 8080; 0 picks a free one)",
    }
)
def index(
    c: Context, data_dir: str = ".tokentool/index", host: str = "127.0.0.1", port: int = 8080
) -> None:
    """Run the local stand-in for Test PyPI in the foreground (Ctrl-C stops it).

    Mint a user-wide token for your .env with
    ``tokentool index mint --user NAME --data-dir .tokentool/index`` and set
    ``INDEX_URL=http://127.0.0.1:8080/legacy/``.
    """
    with _errors():
        from tokentool.index.__main__ import main

        argv = ["serve", "--data-dir", data_dir, "--host", host, "--port", str(port)]
        code = main(argv)
        if code:
            raise Exit(code=code)


@task(default=True)
def demo(c: Context) -> None:
    """The whole flow on a throwaway stand-in: upload, two refusals, pip install (make demo)."""
    with _errors():
        from tokentool._demo import run

        if not run(sys.stdout):
            raise Exit(code=1)
