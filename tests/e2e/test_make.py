"""The Makefile recovers: a bad interpreter creates nothing, a failed install is never trusted.

Runs the real ``make`` on a copy of the Makefile, ``tools/venv.sh`` and
``pyproject.toml`` in a temporary folder. ``INSTALL`` (what pip installs into
.venv) is swapped for something offline and instant: what is under test is the
recovery logic, not pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Ran, run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]
GOOD = "--no-index pip"  # satisfied by the pip every venv has
BAD = "--no-index tokentool-no-such-package"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Makefile", "tools/venv.sh", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make(project: Path, *args: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "PIP_"))}
    return run(["make", "--no-print-directory", *args], cwd=project, env=env, timeout=300)


def fake_python(folder: Path, version: str) -> Path:
    """What RHEL 9's python3 says: an interpreter reporting ``version``."""
    path = folder / "fake" / "python"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_an_old_interpreter_leaves_nothing_and_a_good_one_then_succeeds(project: Path) -> None:
    old = fake_python(project, "3.9")
    ran = make(project, "venv", f"PYTHON={old}", f"INSTALL={GOOD}")
    assert ran.returncode != 0
    assert f"make: {old} is Python 3.9; tokentool needs Python >= 3.10." in ran.stderr
    assert "make PYTHON=python3.12" in ran.stderr
    assert not (project / ".venv").exists()

    ran = make(project, "venv", f"PYTHON={sys.executable}", f"INSTALL={GOOD}")
    assert ran.returncode == 0, ran.output
    stamp = (project / ".venv" / ".tokentool-stamp").read_text()
    assert stamp.startswith(f"python={sys.executable} ")
    again = make(project, "venv", f"PYTHON={sys.executable}", f"INSTALL={GOOD}")
    assert again.returncode == 0 and "creating" not in again.output  # trusted now


def test_a_missing_or_broken_interpreter_says_what_to_do(project: Path) -> None:
    ran = make(project, "venv", "PYTHON=python3-no-such-thing")
    assert ran.returncode != 0
    assert "make: no interpreter 'python3-no-such-thing': install Python >= 3.10" in ran.stderr
    broken = project / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    ran = make(project, "venv", f"PYTHON={broken}")
    assert f"make: '{broken}' does not run as a Python interpreter" in ran.stderr
    assert not (project / ".venv").exists()


def test_a_failed_install_is_never_trusted(project: Path) -> None:
    ran = make(project, "venv", f"PYTHON={sys.executable}", f"INSTALL={BAD}")
    assert ran.returncode != 0
    assert (project / ".venv" / "bin" / "python").exists()  # half-made, as after Ctrl-C
    assert not (project / ".venv" / ".tokentool-stamp").exists()
    marker = project / ".venv" / "leftover"
    marker.write_text("from the failed run")
    ran = make(project, "venv", f"PYTHON={sys.executable}", f"INSTALL={GOOD}")
    assert ran.returncode == 0, ran.output
    assert "make: creating .venv" in ran.stderr
    assert not marker.exists()  # rebuilt from scratch, not patched


def _runs(python: str) -> bool:
    if shutil.which(python) is None and not Path(python).is_file():
        return False
    probe = subprocess.run([python, "-c", "pass"], capture_output=True, timeout=60, check=False)
    return probe.returncode == 0


def test_another_interpreter_rebuilds(project: Path) -> None:
    this = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    others = [f"python3.{n}" for n in range(10, 15) if f"python3.{n}" != this]
    # Interpreters pyenv installed but did not put on PATH.
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    others += [
        str(p)
        for p in sorted(pyenv.glob("3.1[0-9]*/bin/python3"))
        if not p.parent.parent.name.startswith(this[len("python") :])
    ]
    other = next((p for p in others if _runs(p)), None)
    if other is None:
        pytest.skip("needs a second Python >= 3.10")
    assert make(project, "venv", f"PYTHON={sys.executable}", f"INSTALL={GOOD}").returncode == 0
    ran = make(project, "venv", f"PYTHON={other}", f"INSTALL={GOOD}")
    assert ran.returncode == 0, ran.output
    assert f"make: creating .venv with {other}" in ran.stderr
    stamp = (project / ".venv/.tokentool-stamp").read_text()
    assert f"version={sys.version_info[0]}.{sys.version_info[1]} " not in stamp


def test_help_lists_the_targets(project: Path) -> None:
    ran = make(project, "help")
    assert ran.returncode == 0
    for target in ("venv", "demo", "test", "lint", "pytest", "bench", "clean", "dist"):
        assert f"\n  {target} " in ran.stdout, target
    assert "PYTHON=" in ran.stdout


def test_make_dist_builds_the_wheel_the_readme_installs(tmp_path: Path) -> None:
    """On a copy of the sources whose .venv is trusted (its stamp as tools/venv.sh writes it)
    and reaches this environment's build and flit_core through a .pth line: no network."""
    import site
    import venv

    import tokentool

    for name in ("Makefile", "tools/venv.sh", "pyproject.toml", "README.md", "LICENSE"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("tokentool", "sample_project"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp_path / ".venv")
    version = "{}.{}".format(*sys.version_info[:2])
    purelib = run(
        [
            str(tmp_path / ".venv/bin/python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        env=dict(os.environ),
        timeout=60,
    ).stdout.strip()
    (Path(purelib) / "zz_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    cksum = (
        subprocess.run(
            ["cksum"],
            stdin=open(tmp_path / "pyproject.toml", "rb"),
            capture_output=True,
            check=True,
        )
        .stdout.split()[0]
        .decode()
    )
    (tmp_path / ".venv/.tokentool-stamp").write_text(
        f"python={sys.executable} version={version} pyproject={cksum}\n"
    )
    ran = make(tmp_path, "dist", f"PYTHON={sys.executable}")
    assert ran.returncode == 0, ran.output
    wheel = f"tokentool-{tokentool.__version__}-py3-none-any.whl"
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [
        wheel,
        f"tokentool-{tokentool.__version__}.tar.gz",
    ]
    readme = (ROOT / "README.md").read_text()
    assert f"dist/{wheel}[upload]" in readme  # the line a newcomer copies
