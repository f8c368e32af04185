"""Build the bundled throwaway project under any name, offline.

The seed tutorial hand-writes a ``setup.py`` per project name; here the one
sample project (``sample_project/`` at the repository's top, shipped in the wheel
as ``tokentool/_sample_project/``, read with ``importlib.resources`` so it works
from a wheel, a zip or a checkout) is copied
and its name and version rewritten in the copy, so the sources never change. ``build`` drives the
backend without an isolated environment: flit_core is a dependency of the
toolkit, so nothing is downloaded. pyproject_hooks' own hook script runs in
this process rather than in a child: the backend is our pinned flit_core, and a
child interpreter per hook cost 75 ms each, more than the whole build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.resources
import io
import os
import re
import runpy
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import build
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from tokentool.exceptions import ConfigError, TokenError
from tokentool.workflow._config import check_buildable_name

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

__all__ = [
    "SAMPLE_MODULE",
    "BuildError",
    "Built",
    "build_sample",
    "check_version",
    "new_version",
    "sample_files",
]

#: Import name of the sample; fixed so an installed upload can be imported whatever its name.
SAMPLE_MODULE = "tokentool_sample"
_NAME_LINE = re.compile(r'^name = "tokentool-sample"$', re.MULTILINE)
_VERSION_LINE = re.compile(r'^version = "0\.0\.0"$', re.MULTILINE)


class BuildError(TokenError):
    """The throwaway project could not be built."""


@dataclasses.dataclass(frozen=True)
class Built:
    project: str
    version: str
    sdist: Path
    wheel: Path

    @property
    def files(self) -> tuple[Path, Path]:
        return (self.sdist, self.wheel)


def new_version(now_ns: int | None = None) -> str:
    """A final release version that no earlier run used: ``0.0.<microseconds since 1970>``.

    A final release (not ``.devN``) because pip skips pre-releases unless asked,
    and microseconds because two runs in the same second must not collide.
    """
    return f"0.0.{(time.time_ns() if now_ns is None else now_ns) // 1000}"


def check_version(version: str) -> str:
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise BuildError(f"invalid version {version!r}: it is not a PEP 440 version") from None
    if parsed.local is not None:
        raise BuildError(f"invalid version {version!r}: indexes refuse local versions (+...)")
    return str(parsed)


def sample_files() -> Traversable:
    """The bundled sample project, wherever the package was installed from.

    A wheel carries it inside the package (the build backend's include mapping in
    pyproject.toml); a checkout, editable or not, has it beside the package, where
    the design card puts it. One function decides, so every face builds the same files.
    """
    packaged = importlib.resources.files("tokentool") / "_sample_project"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "sample_project"


def _copy_tree(source: Traversable, dest: Path) -> None:
    """Copy a resource folder: works for any loader, unlike ``as_file`` on 3.10/3.11."""
    dest.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        if child.name in ("__pycache__", "dist", "build") or child.name.endswith(
            (".egg-info", ".pyc")
        ):
            continue
        if child.is_dir():
            _copy_tree(child, dest / child.name)
        else:
            (dest / child.name).write_bytes(child.read_bytes())


def _prepare_sources(project: str, version: str, workdir: Path, sample: Traversable) -> Path:
    src = workdir / "src"
    _copy_tree(sample, src)
    pyproject = src / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text, names = _NAME_LINE.subn(f"name = {_toml_string(project)}", text, count=1)
    text, versions = _VERSION_LINE.subn(f"version = {_toml_string(version)}", text, count=1)
    if names != 1 or versions != 1:
        raise BuildError(f"{sample / 'pyproject.toml'} no longer has the expected name/version")
    pyproject.write_text(text, encoding="utf-8")
    return src


def _run_hooks_here(
    cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
) -> None:
    """A pyproject_hooks runner: its hook script ``cmd[1]``, run in this process.

    The script reads its input from and writes its answer to files, exactly as
    in a child; only argv, environment and working directory are swapped in
    and restored around it. Backend chatter is swallowed, as with
    ``quiet_subprocess_runner``.
    """
    extra = dict(extra_environ or {})
    saved_env = {key: os.environ.get(key) for key in extra}
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    os.environ.update(extra)
    sys.argv = list(cmd[1:])
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            runpy.run_path(cmd[1], run_name="__main__")
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _toml_string(value: str) -> str:
    # Names and versions are validated first, so they hold no quotes or backslashes.
    return f'"{value}"'


def build_sample(
    project: str,
    outdir: Path,
    version: str | None = None,
    *,
    sample: Traversable | None = None,
) -> Built:
    """Build an sdist and a wheel of ``sample`` named ``project`` into ``outdir``.

    ``outdir`` must not exist yet or be empty, so a listing of it is exactly
    what this run built.
    """
    version = check_version(version) if version is not None else new_version()
    try:
        check_buildable_name(project, version)
    except ConfigError as exc:
        raise BuildError(str(exc)) from None
    if outdir.exists() and any(outdir.iterdir()):
        raise BuildError(f"output folder {outdir} is not empty: give a fresh one")
    sample = sample_files() if sample is None else sample
    if not (sample / "pyproject.toml").is_file():
        raise BuildError(
            f"the bundled sample project is missing: {sample}/pyproject.toml; reinstall tokentool"
        )
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tokentool-build-") as tmp:
        src = _prepare_sources(project, version, Path(tmp), sample)
        builder = build.ProjectBuilder(
            src, python_executable=sys.executable, runner=_run_hooks_here
        )
        try:
            sdist = builder.build("sdist", outdir)
            wheel = builder.build("wheel", outdir)
        except build.BuildBackendException as exc:
            cause = exc.exception
            detail = f"{type(cause).__name__}" + (f" ({cause})" if str(cause) else "")
            raise BuildError(
                f"building {project} {version} failed in the backend: {detail}; "
                "is flit_core installed in this environment (make venv)?"
            ) from None
        except build.BuildException as exc:
            raise BuildError(f"building {project} {version} failed: {exc}") from None
    name, built_version, _build_tag, _tags = parse_wheel_filename(Path(wheel).name)
    if (name, str(built_version)) != (canonicalize_name(project), version):
        raise BuildError(f"the backend built {name} {built_version}, not {project} {version}")
    return Built(project, version, Path(sdist), Path(wheel))
