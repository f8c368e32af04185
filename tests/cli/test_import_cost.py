"""``import tokentool`` and a clean ``tokentool scan`` stay light.

pypitoken, pymacaroons and libsodium (nacl) were half of the scanner's start-up
(benchmarks/README.md, bench_scan); only decoding a found token needs them, so
the package resolves its token names lazily (PEP 562). Each check runs in a
fresh interpreter, the only place where ``sys.modules`` tells the truth.
"""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import tokentool
import tokentool.token
from tokentool import scan

HEAVY = ("pypitoken", "pymacaroons", "nacl", "tokentool.token")

#: Runs the CLI in-process (as ``python -m tokentool`` does), then reports on
#: stderr which heavy modules it ended up importing.
CLI_THEN_MODULES = """
import json, sys
from tokentool.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"pypitoken", "pymacaroons", "nacl"}
               or m == "tokentool.token")
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _cli_heavy(*args: str, cwd: Path | None = None) -> tuple[int, list[str], str]:
    """Exit status, heavy modules imported, and the rest of stderr of ``tokentool ARGS``."""
    ran = _python(CLI_THEN_MODULES, *args, cwd=cwd)
    rest, _, last = ran.stderr.rstrip("\n").rpartition("\n")
    if not last.startswith("HEAVY="):
        rest, last = ran.stderr, "HEAVY=null"
    heavy = json.loads(last.removeprefix("HEAVY="))
    assert heavy is not None, f"the CLI died: {ran.stderr[-2000:]}"
    return ran.returncode, heavy, rest


def test_import_tokentool_imports_no_macaroon_machinery() -> None:
    ran = _python(
        "import json, sys, tokentool\n"
        "print(json.dumps(sorted(sys.modules)))\n"
        "print(tokentool.__version__)\n"
    )
    assert ran.returncode == 0, ran.stderr
    modules_line, version = ran.stdout.splitlines()
    loaded = json.loads(modules_line)
    assert [m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY] == []
    assert version == tokentool.__version__


def test_clean_scan_imports_no_macaroon_machinery(tmp_path: Path) -> None:
    # Candidates that need no decoding: prose, a bare prefix, a body too short.
    clean = tmp_path / "notes.txt"
    clean.write_text("pip install pypi-server\nTOKEN=pypi-\nx = 'pypi-AgE'\nplain text\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01pypi-\xff" * 100)
    code, heavy, stderr = _cli_heavy("scan", str(tmp_path))
    assert code == 0, stderr
    assert "no PyPI token found" in stderr
    assert heavy == []


def test_clean_history_scan_imports_no_macaroon_machinery(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("pypi-server is not a token\n")
    subprocess.run([*git, "add", "a.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clean"], cwd=tmp_path, check=True)
    code, heavy, stderr = _cli_heavy("scan", "--history", cwd=tmp_path)
    assert code == 0, stderr
    assert heavy == []


def _token() -> str:
    return tokentool.mint(
        domain="localhost",
        identifier=str(uuid.uuid4()),
        key=secrets.token_bytes(32),
        user_id=str(uuid.uuid4()),
    )


def test_a_found_token_is_decoded_with_pymacaroons_alone(tmp_path: Path) -> None:
    """The other side: the lazy import really happens when a candidate needs it.

    And only pymacaroons (with its nacl): the scanner needs the issuer and
    identifier, not pypitoken nor tokentool's caveat parser.
    """
    (tmp_path / ".env").write_text(f"PYPI_TOKEN={_token()}\n")
    code, heavy, stderr = _cli_heavy("scan", str(tmp_path))
    assert code == 1, stderr
    assert "pymacaroons" in heavy
    assert "nacl" in heavy
    assert "pypitoken" not in heavy
    assert "tokentool.token" not in heavy


def _variants(token: str) -> list[str]:
    """Bodies that start like a macaroon: whole, truncated, with bytes flipped or cut."""
    body = token.removeprefix("pypi-")
    rng = random.Random(body)
    out = [body, body[:-1], body[:-4], body[: len(body) // 2], body + "A", body + "AAAA"]
    for _ in range(40):
        at = rng.randrange(3, len(body))
        out.append(body[:at] + rng.choice("AQgw-_09") + body[at + 1 :])
        out.append(body[:at] + body[at + 1 :])
    return out


@pytest.mark.parametrize(
    "token",
    [
        _token(),
        tokentool.mint(
            domain="pypi.org",
            identifier="7",
            key=b"k" * 32,
            project_name="sample",
            project_id=str(uuid.uuid4()),
        ),
    ],
    ids=["user", "project"],
)
def test_scanner_decodes_exactly_as_load_does(token: str) -> None:
    """The scanner's light decoding agrees with ``tokentool.load(strict=False)``."""
    for body in _variants(token):
        decoded = scan._decode(body)
        if decoded is None:  # too short or not starting like a macaroon: never decoded
            continue
        try:
            loaded = tokentool.load(f"pypi-{body}", strict=False)
        except tokentool.LoadError:
            assert decoded == scan._Decoded(False, None, None), body
        else:
            assert decoded == scan._Decoded(True, loaded.domain, loaded.identifier), body


def test_scanner_redacts_as_tokentool_redact_does() -> None:
    token = _token()
    assert scan._redact(token) == tokentool.redact(token)
    assert scan._redact(token).startswith("pypi-AgE")


def test_token_commands_still_work_lazily() -> None:
    """``tokentool inspect`` goes through ``tokentool.load`` resolved on first use."""
    token = _token()
    ran = subprocess.run(
        [sys.executable, "-m", "tokentool", "inspect", "--json"],
        input=token,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["domain"] == "localhost"


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    ran = _python(
        "import json, tokentool, tokentool.token as t\n"
        "ns = {}\n"
        "exec('from tokentool import *', ns)\n"
        "print(json.dumps({\n"
        "    'all': tokentool.__all__,\n"
        "    'star': sorted(n for n in ns if not n.startswith('__')),\n"
        "    'same': [n for n in tokentool.__all__\n"
        "             if getattr(tokentool, n) is getattr(t, n, getattr(tokentool, n))],\n"
        "    'dir': sorted(set(tokentool.__all__) - set(dir(tokentool))),\n"
        "}))\n"
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert seen["all"] == tokentool.__all__
    assert seen["star"] == sorted(tokentool.__all__)
    assert seen["same"] == tokentool.__all__
    assert seen["dir"] == []


@pytest.mark.parametrize("name", tokentool.__all__)
def test_public_name_is_the_library_object(name: str) -> None:
    value = getattr(tokentool, name)
    assert value is getattr(tokentool.token, name, value)
    assert getattr(value, "__module__", "").startswith("tokentool.")


def test_submodule_attribute_and_unknown_names() -> None:
    ran = _python(
        "import tokentool\n"
        "print(tokentool.token.deserialize.__module__, tokentool.token.caveats.__name__)\n"
        "try:\n"
        "    tokentool.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "tokentool.token tokentool.token.caveats",
        "module 'tokentool' has no attribute 'no_such_name'",
    ]
