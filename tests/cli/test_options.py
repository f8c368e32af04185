"""Every workflow option declared once: ``invoke X --help`` and ``tokentool X --help`` agree.

Both help texts come from real programs (the ``invoke`` and ``tokentool``
executables); each is parsed into {long option: help text} and compared with
the other and with the declaration. Any drift fails: a missing option, an
extra one, one word of help.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_environ, invoke

from tokentool.options import COMMANDS, Option, OptionError, Settings
from tokentool.workflow import Timeouts

_ENTRY = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")


def _options(help_text: str, heading: str) -> dict[str, str]:
    """{``--name``: help, whitespace-normalized} from the options section of a help text."""
    section = help_text.split(heading, 1)[1]
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in section.splitlines()[1:]:
        if not line.strip():
            if entries:
                break
            continue
        match = _ENTRY.match(line)
        if match:
            longs = re.findall(r"--[a-z][a-z-]*", match.group(1))
            current = entries.setdefault(longs[0], [])
            if match.group(2):
                current.append(match.group(2))
        elif current is not None and line.startswith("   "):
            current.append(line.strip())
        else:
            break
    entries.pop("--help", None)
    return {name: _unwrap(words) for name, words in entries.items()}


def _unwrap(lines: list[str]) -> str:
    """One line again: both faces wrap with textwrap, which also breaks after a hyphen."""
    text = ""
    for line in lines:
        glue = "" if re.search(r"\w-$", text) or not text else " "
        text += glue + line
    return " ".join(text.split())


def _docstring(help_text: str) -> str:
    return " ".join(help_text.split("Docstring:", 1)[1].split("Options:", 1)[0].split())


def _argparse_text(help_text: str) -> str:
    """The description and epilog of an argparse help: everything but usage and options."""
    before, _sep, after = help_text.partition("\noptions:\n")
    description = before.split("\n\n", 1)[1]
    epilog = after.split("\n\n", 1)[1] if "\n\n" in after else ""
    return " ".join((description + " " + epilog).split())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_both_faces_offer_the_same_options_with_the_same_help(command, tmp_path) -> None:
    by_invoke = invoke(tmp_path, "--help", command)
    assert by_invoke.returncode == 0, by_invoke.output
    by_argparse = subprocess.run(
        [sys.executable, "-m", "tokentool", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_environ(HOME=str(tmp_path)),
    )
    assert by_argparse.returncode == 0, by_argparse.stderr
    invoke_options = _options(by_invoke.stdout, "Options:")
    argparse_options = _options(by_argparse.stdout, "options:")
    declared = {f"--{o.name}": " ".join(o.text.split()) for o in COMMANDS[command].options}
    assert invoke_options == declared
    assert argparse_options == declared
    # The command's own words too: Invoke's docstring is argparse's description + epilog.
    assert _docstring(by_invoke.stdout) == _argparse_text(by_argparse.stdout)


def test_the_parser_finds_drift() -> None:
    """The comparison above can fail: one changed word shows."""
    a = "Options:\n  --ttl=STRING   validity (default:\n                 15m)\n"
    b = "options:\n  --ttl DURATION  validity (default: 15m)\n"
    expected = {"--ttl": "validity (default: 15m)"}
    assert _options(a, "Options:") == _options(b, "options:") == expected
    assert _options(a.replace("15m", "1h"), "Options:") != _options(b, "options:")


def test_the_timeouts_have_one_default_shown_in_help() -> None:
    shown = {
        o.name: o.text for c in COMMANDS.values() for o in c.options if o.name.endswith("-timeout")
    }
    assert shown == {
        "connect-timeout": "seconds to wait for a connection to the index (default: 10)",
        "read-timeout": "seconds to wait for the index's answer to each request (default: 60)",
    }
    defaults = Timeouts()
    assert (defaults.connect, defaults.read) == (10.0, 60.0)
    # No copy of the numbers or of the ttl's default is left in the package's code
    # (the walkthrough's "15m" is an example of restrict --ttl, not a default).
    package = Path(__file__).resolve().parents[2] / "tokentool"
    copies = [
        f"{path.relative_to(package)}: {line.strip()}"
        for path in package.rglob("*.py")
        if path.name not in ("options.py", "walkthrough.py") and "index" not in path.parts
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\b(?:10\.0|60\.0|120\.0)\b|[\"']15m[\"']\s*[,)]", line)
    ]
    assert copies == []


def test_values_are_checked_the_same_for_both_faces() -> None:
    settings = Settings.from_values("upload", {"connect_timeout": "2.5", "project": ["a"]})
    assert (settings.connect_timeout, settings.project, settings.ttl) == (2.5, "a", "15m")
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(OptionError, match="--read-timeout must be a positive number"):
            Settings.from_values("cycle", {"read_timeout": bad})
    with pytest.raises(OptionError, match="--project names one project, unless --dist"):
        Settings.from_values("upload", {"project": ["a", "b"]})
    several = Settings.from_values("upload", {"project": ["a", "b"], "dist": "dist/*"})
    assert several.values["project"] == ("a", "b")
    with pytest.raises(OptionError, match="--version names the version of the sample"):
        Settings.from_values("verify-rejection", {"dist": "dist/*", "version": "1.0"})


def test_a_bad_number_is_one_line_on_both_faces(tmp_path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "tokentool", "upload", "--read-timeout", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_environ(HOME=str(tmp_path)),
    )
    assert (ran.returncode, ran.stderr.splitlines()[-1]) == (
        2,
        "tokentool: error: --read-timeout must be a positive number of seconds, got '0'",
    )
    by_invoke = invoke(tmp_path, "upload", "--read-timeout", "0")
    assert by_invoke.returncode == 2
    assert "error: --read-timeout must be a positive number of seconds" in by_invoke.output
    twice = invoke(tmp_path, "upload", "-p", "a", "-p", "b")
    assert (twice.returncode, twice.stderr.strip()) == (
        2,
        "error: --project names one project, unless --dist is given",
    )


def test_option_text_shows_value_defaults_only() -> None:
    assert Option("x", "h", 2.5).text == "h (default: 2.5)"
    assert Option("x", "h", False).text == "h"
    assert Option("x", "h").text == "h"


# --- the stand-in's settings: one dataclass, the option parser and the child argv ---------


def test_the_standin_settings_round_trip_through_argv(tmp_path) -> None:
    from tokentool.index.__main__ import build_parser
    from tokentool.index.rules import Site
    from tokentool.index.settings import ServeSettings

    chosen = ServeSettings(
        data_dir=tmp_path,
        port=0,
        max_upload_size=1024,
        new_project_limit=0,
        threads=3,
        prohibited_names=("a", "b"),
    )
    parsed = ServeSettings.from_argparse(build_parser().parse_args(["serve", *chosen.argv()]))
    assert parsed == chosen
    defaults = ServeSettings.from_argparse(build_parser().parse_args(["serve"]))
    assert defaults == ServeSettings()
    # The rules' Site has the same defaults, taken from the one declaration.
    site = Site.of(ServeSettings())
    assert (site.max_upload_size, site.new_project_limit, site.prohibited_names) == (
        Site().max_upload_size,
        Site().new_project_limit,
        Site().prohibited_names,
    )
    assert Site.of(chosen).prohibited_names == frozenset({"a", "b"})


def test_every_standin_setting_is_an_option_with_help() -> None:
    import dataclasses

    from tokentool.index.__main__ import build_parser
    from tokentool.index.settings import ServeSettings

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    by_dest = {a.dest: a for a in serve._actions}
    for field in dataclasses.fields(ServeSettings):
        action = by_dest[field.name]
        assert action.help == field.metadata["help"] == ServeSettings.help(field.name)
    assert ServeSettings.help("port") == "port to listen on; 0 picks a free one (default: 8080)"


def test_the_workflow_functions_take_the_declared_defaults() -> None:
    """The third copy the options once had: every keyword a workflow function shares with
    an option has the option's default (a drift here fails)."""
    import inspect

    from tokentool import workflow

    functions = {
        "upload": [workflow.upload, workflow.upload_own],
        "verify-rejection": [workflow.verify_rejection],
        "cycle": [workflow.upload, workflow.verify_rejection],
        "probe": [workflow.probe],
    }
    compared = 0
    for command, fns in functions.items():
        for option in COMMANDS[command].options:
            for fn in fns:
                parameter = inspect.signature(fn).parameters.get(option.dest)
                if parameter is None or option.default is None:
                    continue
                assert parameter.default == option.default, (fn.__name__, option.name)
                compared += 1
    assert compared >= 12
    assert (Timeouts().connect, Timeouts().read) == (
        option_default("connect-timeout"),
        option_default("read-timeout"),
    )


def option_default(name: str) -> object:
    from tokentool.options import option

    return option("upload", name).default
