"""The full cycle: `invoke upload` + `invoke verify-rejection` vs the seed's manual flow.

Both run against one local stand-in (a real ``tokentool index serve`` process),
with a user-wide token minted as the account page would, and both are timed as
a user would type them: separate processes, cold interpreters.

toolkit, 1 command:  ``invoke cycle -p NAME`` (upload, then verify-rejection, in one
                     process)
toolkit, 2 commands: ``invoke upload -p NAME``, then ``invoke verify-rejection -p NAME``
                     (each builds, derives and uploads in-process; the token is read
                     from a 0600 ``.env`` next to the project's one-line ``tasks.py``)
seed:                ``python -m build``, ``python tutorial.py NAME < token``,
                     ``twine upload dist/*``, ``python tutorial.py OTHER < token``,
                     ``twine upload dist/*`` (expected 403): five processes, the token
                     passed through TWINE_PASSWORD as in the seed. Two variants:
  - as published:    plain ``python -m build`` (isolated build environments), made
                     offline by pointing pip at a local wheelhouse holding flit_core
                     (fetched once with ``pip download`` into benchmarks/.data/);
  - --no-isolation:  the build backend from this venv, the fastest the seed can be.

Editing the project (the seed's hand-written ``setup.py``; here a fresh version
per repetition, so uploads never collide) is not timed. Every repetition checks
its outcome (accepted, then refused with the restriction's reason), so a fast
but wrong run cannot count. Target: seed / toolkit >= 4.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TUTORIAL = Path(__file__).resolve().parent / "tutorial.py"
sys.path.insert(0, str(ROOT))

from tokentool.index import start_server  # noqa: E402

PROJECT = "bench-cycle"
OTHER = "some-other-project"


def _run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None):
    return subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )


def toolkit_cycle(work: Path, env: dict[str, str], one_command: bool) -> float:
    invoke = [str(BIN / "invoke")]
    upload, verify = ["upload", "-p", PROJECT], ["verify-rejection", "-p", PROJECT]
    started = time.perf_counter()
    if one_command:
        runs = [_run([*invoke, "cycle", "-p", PROJECT], work, env)]
    else:
        runs = [_run([*invoke, *upload], work, env), _run([*invoke, *verify], work, env)]
    elapsed = time.perf_counter() - started
    out = "".join(r.stdout for r in runs)
    assert all(r.returncode == 0 for r in runs), out + "".join(r.stderr for r in runs)
    assert "accepted: both files uploaded" in out, out
    assert "refused as expected: 403 Invalid API Token: project-scoped" in out, out
    return elapsed


def wheelhouse() -> Path | None:
    """flit_core as a wheel, so the seed's isolated ``python -m build`` works offline."""
    house = Path(__file__).resolve().parent / ".data" / "wheelhouse"
    if not list(house.glob("flit_core-*.whl")):
        house.mkdir(parents=True, exist_ok=True)
        import flit_core

        requirement = f"flit_core=={flit_core.__version__}"
        fetch = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(house),
                requirement,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fetch.returncode != 0:
            print("(no flit_core wheel could be fetched: the as-published seed variant is skipped)")
            return None
    return house


def seed_cycle(
    work: Path, env: dict[str, str], raw: str, upload_url: str, n: str, house: Path | None
) -> float:
    project = work / f"seed-{n}"
    shutil.copytree(ROOT / "tokentool" / "workflow" / "sample", project)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('name = "tokentool-sample"', f'name = "{PROJECT}"')
    text = text.replace('version = "0.0.0"', f'version = "0.1.{time.time_ns() // 1000}"')
    pyproject.write_text(text)
    python = sys.executable
    twine = [str(BIN / "twine"), "upload", "--non-interactive", "dist/*"]
    tw_env = dict(env, TWINE_USERNAME="__token__", TWINE_REPOSITORY_URL=upload_url)

    started = time.perf_counter()
    if house is None:
        build = _run([python, "-m", "build", "--no-isolation"], project, env)
    else:
        build_env = dict(env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(house))
        build = _run([python, "-m", "build"], project, build_env)
    derived = _run([python, str(TUTORIAL), PROJECT], project, env, raw).stdout.strip()
    dist = [str(p) for p in sorted((project / "dist").iterdir())]
    ok = _run([*twine[:-1], *dist], project, dict(tw_env, TWINE_PASSWORD=derived))
    other = _run([python, str(TUTORIAL), OTHER], project, env, raw).stdout.strip()
    refused = _run([*twine[:-1], *dist], project, dict(tw_env, TWINE_PASSWORD=other))
    elapsed = time.perf_counter() - started

    assert build.returncode == 0, build.stderr
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert refused.returncode == 1, refused.stdout
    assert "Invalid API Token: project-scoped token is not valid" in refused.stdout, refused.stdout
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    read = ("TOKEN", "INDEX_URL", "REPOSITORY_URL", "PYPI_USERNAME")
    env = {k: v for k, v in os.environ.items() if k not in read}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env = {k: v for k, v in env.items() if not k.startswith("TWINE_")}
    house = wheelhouse()
    times: dict[str, list[float]] = {"one": [], "two": [], "seed": [], "seed-noiso": []}
    with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
        work = Path(tmp)
        with start_server(work / "index") as server:
            raw = server.mint("bench", description="bench_cycle")
            env_file = work / ".env"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as stream:
                stream.write(f"TOKEN={raw}\nREPOSITORY_URL={server.upload_url}\n")
            (work / "tasks.py").write_text("from tokentool.tasks import *  # noqa: F403\n")
            url = server.upload_url
            # Warm-up (file-system caches; the project exists from then on), not counted.
            toolkit_cycle(work, env, True)
            seed_cycle(work, env, raw, url, "warm", house)
            for n in range(args.repeat):
                times["one"].append(toolkit_cycle(work, env, True))
                times["two"].append(toolkit_cycle(work, env, False))
                if house is not None:
                    times["seed"].append(seed_cycle(work, env, raw, url, f"{n}", house))
                times["seed-noiso"].append(seed_cycle(work, env, raw, url, f"{n}n", None))
    labels = {
        "one": "toolkit: invoke cycle (1 process)",
        "two": "toolkit: invoke upload; invoke verify-rejection (2 processes)",
        "seed": "seed as published: python -m build (isolated), tutorial.py x2, twine x2",
        "seed-noiso": "seed with python -m build --no-isolation, tutorial.py x2, twine x2",
    }
    print(f"full cycle against the stand-in, {args.repeat} repetitions (interleaved):")
    means = {k: statistics.mean(v) for k, v in times.items() if v}
    for key, mean in means.items():
        print(f"  {labels[key]:<74} mean {mean:6.3f}s  min {min(times[key]):6.3f}s")
    for seed in ("seed", "seed-noiso"):
        for tool in ("one", "two"):
            if seed in means:
                ratio = means[seed] / means[tool]
                verdict = "met" if ratio >= 4 else "NOT met"
                print(
                    f"  speed-up {seed:>10} / toolkit {tool}: {ratio:4.1f}x "
                    f"(target >= 4x: {verdict})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
