"""The GitHub Action (``action.yml``), run the way a runner runs a composite action.

``Runner`` reads action.yml with PyYAML, substitutes the ``${{ ... }}``
expressions it uses (inputs with their defaults, ``github.action_path``, the
steps' outputs), gives each step fresh ``GITHUB_ENV`` and ``GITHUB_OUTPUT``
files and applies them as the runner does, and runs each ``run:`` with its
shell (``bash --noprofile --norc -eo pipefail FILE``). The install step really
creates a venv and pip-installs this checkout; the derived token then really
uploads to the stand-in with the real twine.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, twine_upload, unique

import tokentool
from tokentool import github_action
from tokentool.index import RunningServer

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_SHELLS = {"bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"], "sh": ["sh", "-e"]}


def _read_file_commands(path: Path) -> dict[str, str]:
    """``NAME=value`` and ``NAME<<DELIMITER`` blocks, as the runner reads $GITHUB_ENV/OUTPUT."""
    values: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delimiter = line.partition("<<")
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"unterminated {name} block")
            values[name] = "\n".join(body)
        elif line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


@dataclasses.dataclass
class Step:
    name: str
    returncode: int
    log: list[str]


class Runner:
    """A composite action's steps, run as GitHub's runner runs them (the parts it uses)."""

    def __init__(self, action_dir: Path, workdir: Path) -> None:
        self.action_dir = action_dir
        self.action = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
        self.temp = workdir / "runner-temp"
        self.temp.mkdir()
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(workdir),
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_ACTION_PATH": str(action_dir),
        }
        for name in ("PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_FIND_LINKS", "LANG"):
            if name in os.environ:
                self.env[name] = os.environ[name]
        self.outputs: dict[str, dict[str, str]] = {}
        self.steps: list[Step] = []

    def _context(self, inputs: dict[str, str]) -> dict[str, str]:
        context = {"github.action_path": str(self.action_dir)}
        for name, spec in self.action["inputs"].items():
            if name in inputs:
                context[f"inputs.{name}"] = inputs[name]
            elif "default" in spec:
                context[f"inputs.{name}"] = str(spec["default"])
            elif spec.get("required"):
                raise AssertionError(f"input {name} is required")
            else:
                context[f"inputs.{name}"] = ""
        for step, outputs in self.outputs.items():
            for key, value in outputs.items():
                context[f"steps.{step}.outputs.{key}"] = value
        return context

    @staticmethod
    def _substitute(text: str, context: dict[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            assert match.group(1) in context, f"expression not supported: {match.group(1)}"
            return context[match.group(1)]

        return _EXPRESSION.sub(one, text)

    def run(self, **inputs: str) -> dict[str, str]:
        """Every step in order (stopping at a failure); the action's outputs."""
        assert self.action["runs"]["using"] == "composite"
        for number, spec in enumerate(self.action["runs"]["steps"]):
            context = self._context(inputs)
            env_file = self.temp / f"env-{number}"
            output_file = self.temp / f"output-{number}"
            env_file.touch()
            output_file.touch()
            step_env = {
                k: self._substitute(str(v), context) for k, v in spec.get("env", {}).items()
            }
            script = self.temp / f"step-{number}.sh"
            script.write_text(self._substitute(spec["run"], context), encoding="utf-8")
            proc = subprocess.run(
                [*_SHELLS[spec["shell"]], str(script)],
                env={
                    **self.env,
                    **step_env,
                    "GITHUB_ENV": str(env_file),
                    "GITHUB_OUTPUT": str(output_file),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=600,
                cwd=self.temp,
            )
            self.steps.append(Step(spec["name"], proc.returncode, proc.stdout.splitlines()))
            if proc.returncode != 0:
                break
            self.env.update(_read_file_commands(env_file))
            if "id" in spec:
                self.outputs[spec["id"]] = _read_file_commands(output_file)
        context = self._context(inputs)
        return {
            name: self._substitute(spec["value"], context)
            for name, spec in self.action["outputs"].items()
        }


def _visible(lines: list[str]) -> list[str]:
    """What the log shows: the runner consumes ``::add-mask::`` commands, never prints them."""
    return [line for line in lines if not line.startswith("::add-mask::")]


@pytest.mark.slow
def test_the_action_as_a_runner_runs_it(tmp_path, index_server: RunningServer, dists) -> None:
    user, mine, other = unique("user"), unique("act"), unique("act")
    stored = index_server.mint(user)
    runner = Runner(ROOT, tmp_path)
    started = time.time()
    outputs = runner.run(token=stored, project=f"{mine}\n", ttl="10m")
    install, derive = runner.steps
    assert install.returncode == 0, "\n".join(install.log)
    assert derive.returncode == 0, "\n".join(derive.log)
    exported = runner.env["TWINE_PASSWORD"]
    # The mask comes first, before any other line of the step that knows the token.
    assert derive.log[0] == f"::add-mask::{exported}"
    assert derive.log[1] == f"::add-mask::{stored}"
    # No visible log line of any step holds either token (or its signature's tail).
    for step in runner.steps:
        for line in _visible(step.log):
            for secret in (stored, exported):
                assert secret not in line and secret[-30:] not in line, step.name
    # The outputs: when it expires and what it may do; never the token.
    token = tokentool.load(exported)
    window = token.window()
    assert window is not None
    assert started - 1 <= window[0] and window[1] <= time.time() + 600
    assert window[1] - window[0] == 600
    assert outputs["expires-at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window[1]))
    assert outputs["restrictions"] == "; ".join(token.explain()["summary"])
    assert outputs["restrictions"].endswith(f"only for project(s) named {mine}")
    assert all(exported not in value and stored not in value for value in outputs.values())
    # The exported token uploads to its project on the real stand-in, and only there.
    accepted = twine_upload(index_server.upload_url, exported, dists(mine).wheel)
    assert accepted.returncode == 0, accepted.output
    refused = twine_upload(index_server.upload_url, exported, dists(other).wheel)
    assert refused.http_error() == (
        "403 Forbidden",
        f"Invalid API Token: project-scoped token is not valid for project: '{other}'",
    )
    # The stored token never reached a command line: it is read from env only.
    for spec in runner.action["runs"]["steps"]:
        assert "inputs.token" not in spec["run"]
        assert "inputs." not in spec["run"], "inputs go through env: no script injection"


def test_several_projects_one_token(tmp_path, index_server: RunningServer, dists) -> None:
    user, first, second = unique("user"), unique("multi"), unique("multi")
    stored = index_server.mint(user)
    env_file, output_file = tmp_path / "env", tmp_path / "output"
    out = io.StringIO()
    code = github_action.run(
        {
            "TOKENTOOL_TOKEN": stored,
            "TOKENTOOL_PROJECTS": f"{first}\n\n  {second}  \n",
            "TOKENTOOL_EXPORT": "UV_PUBLISH_TOKEN",
            "GITHUB_ENV": str(env_file),
            "GITHUB_OUTPUT": str(output_file),
        },
        out,
    )
    assert code == 0, out.getvalue()
    exported = _read_file_commands(env_file)["UV_PUBLISH_TOKEN"]
    window = tokentool.load(exported).window()
    assert window is not None and window[1] - window[0] == 15 * 60  # the ttl's default
    for name in (first, second):
        ran = twine_upload(index_server.upload_url, exported, dists(name).wheel)
        assert ran.returncode == 0, ran.output
    names = ", ".join(sorted((first, second)))
    assert _read_file_commands(output_file)["restrictions"].endswith(f"named {names}")


def test_the_delimiter_cannot_collide(tmp_path, monkeypatch) -> None:
    values = iter(["aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000"])
    monkeypatch.setattr(github_action.uuid, "uuid4", lambda: next(values))
    delimiter = github_action._delimiter("x ghadelimiter_aaaaaaaa-0000-0000-0000-000000000000 y")
    assert delimiter == "ghadelimiter_bbbbbbbb-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ({"TOKENTOOL_TOKEN": ""}, "the token input is empty"),
        ({"TOKENTOOL_PROJECTS": "\n"}, "the project input is empty"),
        ({"TOKENTOOL_TTL": "none"}, "the ttl input must be a duration"),
        ({"TOKENTOOL_TTL": "soon"}, "invalid duration: 'soon'"),
        ({"TOKENTOOL_EXPORT": "PATH"}, "the export input 'PATH' is not a variable"),
        ({"TOKENTOOL_EXPORT": "GITHUB_TOKEN"}, "the export input 'GITHUB_TOKEN' is not"),
        ({"TOKENTOOL_EXPORT": "A\nB"}, "the export input 'A\\nB' is not"),
        ({"TOKENTOOL_PROJECTS": "bad name!"}, "invalid project name"),
        ({"TOKENTOOL_TOKEN": "pypi-garbage"}, "the token input is not usable"),
    ],
)
def test_bad_inputs_are_one_error_line_and_nothing_exported(tmp_path, inputs, error) -> None:
    env_file, output_file = tmp_path / "env", tmp_path / "output"
    stored = tokentool.mint(domain="localhost", identifier="a" * 32, key=b"k" * 32)
    out = io.StringIO()
    environ = {
        "TOKENTOOL_TOKEN": stored,
        "TOKENTOOL_PROJECTS": "mine",
        "GITHUB_ENV": str(env_file),
        "GITHUB_OUTPUT": str(output_file),
        **inputs,
    }
    assert github_action.run(environ, out) == 1
    (line,) = out.getvalue().splitlines()
    assert line.startswith("::error title=tokentool::")
    assert error in line
    assert not env_file.exists() and not output_file.exists()
    assert stored[5:] not in line
