"""Shared fixtures: a real stand-in index process, tiny distributions, real twine.

The index runs as ``python -m tokentool.index serve --port 0`` on 127.0.0.1
(module-scoped: tests use fresh user and project names instead of fresh
servers). Distributions are written directly with zipfile/tarfile: a wheel and
an sdist with correct metadata take a millisecond, ``build`` takes seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tokentool.index import RunningServer, start_server

BIN = Path(sys.executable).parent
TWINE = BIN / "twine"
PIP = BIN / "pip"

#: Size limit of the shared test server: small, so the too-large row needs no 100 MiB file.
TEST_UPLOAD_LIMIT = 1024 * 1024


def unique(prefix: str = "p") -> str:
    """A project or user name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclasses.dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path

    @property
    def both(self) -> list[Path]:
        return [self.sdist, self.wheel]


def _metadata(name: str, version: str, metadata_version: str) -> str:
    return (
        f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n"
        "Summary: A throwaway distribution for the stand-in index tests.\n"
    )


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    filename_version: str | None = None,
    payload: bytes = b"",
    metadata_version: str = "2.1",
    marker: str = "",
) -> Path:
    """A pure-Python wheel importable as ``<name with underscores>``.

    ``filename_version`` lets a test disagree with the metadata (a row of the
    reference table); ``marker`` makes otherwise identical builds differ.
    """
    module = canonicalize_name(name).replace("-", "_")
    dist_info = f"{module}-{filename_version or version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\nMARKER = {marker!r}\n".encode(),
        f"{dist_info}/METADATA": _metadata(name, version, metadata_version).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tokentool-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    if payload:
        files[f"{module}/blob.bin"] = payload
    record = [_record_line(p, d) for p, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{module}-{filename_version or version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            compress = zipfile.ZIP_STORED if member.endswith(".bin") else zipfile.ZIP_DEFLATED
            zf.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data, compress)
    return path


def write_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    metadata_version: str = "2.1",
    marker: str = "",
) -> Path:
    module = canonicalize_name(name).replace("-", "_")
    top = f"{module}-{version}"
    files = {
        f"{top}/PKG-INFO": _metadata(name, version, metadata_version).encode(),
        f"{top}/{module}/__init__.py": f"VERSION = {version!r}\nMARKER = {marker!r}\n".encode(),
    }
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return path


def write_dists(directory: Path, name: str, version: str = "1.0", **kwargs: str) -> Dists:
    directory.mkdir(parents=True, exist_ok=True)
    return Dists(
        wheel=write_wheel(directory, name, version, **kwargs),
        sdist=write_sdist(directory, name, version, **kwargs),
    )


@dataclasses.dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def http_error(self) -> tuple[str, str]:
        """(``"403 Forbidden"``, reason phrase) from twine's ``HTTPError`` report."""
        lines = [line.strip() for line in self.output.splitlines()]
        for number, line in enumerate(lines):
            if "HTTPError: " in line:
                status = line.partition("HTTPError: ")[2].partition(" from ")[0]
                return status, " ".join(x for x in lines[number + 1 :] if x)
        raise AssertionError(f"twine reported no HTTP error:\n{self.output}")


def twine_env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    env.update(TWINE_USERNAME="__token__", TWINE_PASSWORD=token, TWINE_NON_INTERACTIVE="1")
    env["COLUMNS"] = "4000"  # rich would otherwise wrap the reason phrase
    return env


def twine_upload(url: str, token: str, *files: Path, username: str | None = None) -> Ran:
    """The real twine CLI; the token travels in the environment, never in argv."""
    env = twine_env(token)
    if username is not None:
        env["TWINE_USERNAME"] = username
    argv = [str(TWINE), "--no-color", "upload", "--non-interactive", "--disable-progress-bar"]
    argv += ["--repository-url", url, *map(str, files)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def index_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One stand-in per test module: ``.url``, ``.upload_url``, ``.simple_url``, ``.mint()``."""
    data_dir = tmp_path_factory.mktemp("index")
    with start_server(data_dir, max_upload_size=TEST_UPLOAD_LIMIT) as server:
        yield server


@pytest.fixture
def dists(tmp_path: Path) -> Iterator[object]:
    """``dists(name, version="1.0", **options) -> Dists`` written under this test's tmp_path."""
    counter = iter(range(1_000_000))

    def make(name: str, version: str = "1.0", **kwargs: str) -> Dists:
        return write_dists(tmp_path / f"dist{next(counter)}", name, version, **kwargs)

    yield make
