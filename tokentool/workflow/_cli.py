"""``tokentool upload | verify-rejection | cycle``: the Invoke tasks' flows without Invoke.

Same options (twine's ``--repository-url``), same project root, same
settings, same live progress and verdicts as the tasks; failures take the
toolkit's one path (``tokentool: error: <sentence>``). Exit 0 when the check
passed, 1 when the index said otherwise, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tokentool.cli._base import PROG, Parser, guarded

__all__ = ["cycle_main", "upload_main", "verify_main"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}")
    return value


def _parser(command: str, description: str, *, sends: bool, verifies: bool) -> Parser:
    parser = Parser(prog=f"{PROG} {command}", description=description)
    parser.add_argument("-p", "--project", help="project name (default: test-<user>-<date>)")
    parser.add_argument("--version", help="version to build (default: a new 0.0.<µs>)")
    if sends:
        parser.add_argument("--ttl", default="15m", help="validity of the derived token")
    if verifies:
        parser.add_argument("--other", help="project the wrong token is restricted to")
        parser.add_argument("--case", default="project", choices=["project", "expired"])
        parser.add_argument(
            "--real-upload",
            action="store_true",
            help="if the index can't be probed, upload the real files (published if accepted)",
        )
        if not sends:
            parser.add_argument(
                "--allow-new-project",
                action="store_true",
                help="send even if NAME does not exist (spends new-project quota)",
            )
    parser.add_argument(
        "--repository-url",
        "--index-url",
        dest="repository_url",
        metavar="URL",
        help="upload URL, as twine's option (default: REPOSITORY_URL, else Test PyPI); "
        "--index-url is its old name",
    )
    parser.add_argument("--allow-production", action="store_true")
    parser.add_argument(
        "--allow-other-host",
        action="store_true",
        help="send a private index's token to a host other than the one it names",
    )
    parser.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="SECONDS")
    parser.add_argument("--read-timeout", type=_seconds, default=60.0, metavar="SECONDS")
    return parser


def _say(line: str) -> None:
    print(line, flush=True)


def _run(args: argparse.Namespace, *, upload: bool, verify: bool) -> int:
    from tokentool import workflow

    config = workflow.settings(workflow.find_root(), args.repository_url, project=args.project)
    name = config.project_or_default(args.project)
    timeouts = workflow.Timeouts(args.connect_timeout, args.read_timeout)
    guards = {
        "allow_production": args.allow_production,
        "allow_other_host": args.allow_other_host,
    }
    if upload:
        report = workflow.upload(
            config,
            name,
            version=args.version,
            ttl=args.ttl,
            timeouts=timeouts,
            progress=_say,
            **guards,
        )
        if not report.ok:
            print(f"{PROG}: error: {report.message}", file=sys.stderr)
            return 1
        _say(report.message)
    if verify:
        verdict = workflow.verify_rejection(
            config,
            name,
            other=args.other,
            case=args.case,
            version=None if upload else args.version,
            allow_new_project=getattr(args, "allow_new_project", False),
            real_upload=args.real_upload,
            timeouts=timeouts,
            progress=_say,
            **guards,
        )
        _say(f"index answer: {verdict.answer.summary}")
        if not verdict.ok:
            print(verdict.message, file=sys.stderr)
            return 1
        _say(verdict.message)
    return 0


def _main(
    argv: Sequence[str], command: str, description: str, *, upload: bool, verify: bool
) -> int:
    """One command: the options its steps take, then those steps, on the one failure path."""
    parser = _parser(command, description, sends=upload, verifies=verify)
    return guarded(lambda: _run(parser.parse_args(argv), upload=upload, verify=verify))


def upload_main(argv: Sequence[str]) -> int:
    return _main(
        argv,
        "upload",
        "Build the bundled throwaway project as NAME, derive a token restricted to it, "
        "upload both files with it. The token comes from TOKEN, .env, keyring, ~/.pypirc "
        "or TWINE_PASSWORD (README).",
        upload=True,
        verify=False,
    )


def verify_main(argv: Sequence[str]) -> int:
    return _main(
        argv,
        "verify-rejection",
        "Upload NAME with a token restricted elsewhere (or expired), with a wrong digest "
        "so nothing is published: exit 0 only if the index refuses it for that reason. "
        "NAME must exist already (a first upload spends new-project quota).",
        upload=False,
        verify=True,
    )


def cycle_main(argv: Sequence[str]) -> int:
    return _main(
        argv,
        "cycle",
        "upload, then verify-rejection, one set of options.",
        upload=True,
        verify=True,
    )
