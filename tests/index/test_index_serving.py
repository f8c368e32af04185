"""What installers see: every page and file comes from the database, under its own project.

A real ``tokentool index serve`` process, real uploads over HTTP, and real pip
and uv installing from it. The hijack routes are the ones an attacker with an
account of their own tried: each asserts that the victim's page lists exactly
the owner's files and that pip installs the owner's code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from helpers import (
    JSON_V1,
    PIP,
    archive,
    post_file,
    simple_json,
    stray_file,
    unique,
    write_sdist,
    write_wheel,
)

BIN = Path(sys.executable).parent
HTML_V1 = "application/vnd.pypi.simple.v1+html"
#: What pip sends (pip/_internal/index/collector.py).
PIP_ACCEPT = f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01"


def pip(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    argv = [str(PIP), "--isolated", "--disable-pip-version-check", "--no-input", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def installed_marker(target: Path, module: str) -> str:
    check = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.MARKER)"],
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    return check.stdout.strip()


@pytest.fixture
def alice_project(index_server, tmp_path):
    """Alice's project with a wheel and an sdist 1.0 whose code says 'alice'."""
    victim = unique("victim")
    token = index_server.mint(unique("alice"))
    folder = tmp_path / "alice"
    folder.mkdir()
    wheel = write_wheel(folder, victim, "1.0", marker="alice")
    sdist = write_sdist(folder, victim, "1.0", marker="alice")
    assert post_file(index_server, token, wheel, victim, "1.0", "bdist_wheel").status_code == 200
    assert post_file(index_server, token, sdist, victim, "1.0", "sdist").status_code == 200
    return victim, sorted([wheel.name, sdist.name])


# (label, attack filename, Mallory's project, version); {v} is the victim's name, {m} hers.
HIJACKS = [
    ("zip sdist named after the victim", "{v}-9.9.zip", "{m}", "9.9"),
    ("own project victim-2.0, file victim-2.0-1", "{v}-2.0-1.tar.gz", "{v}-2.0", "1"),
    ("own project victim-2.0, zip", "{v}-2.0-1.zip", "{v}-2.0", "1"),
    ("tar.gz named after the victim", "{v}-9.9.tar.gz", "{m}", "9.9"),
    ("upper case", "{V}-9.9.zip", "{m}", "9.9"),
    ("underscores", "{v_}-9.9.zip", "{m}", "9.9"),
    ("dots", "{vdot}-9.9.zip", "{m}", "9.9"),
    ("fragment in the name", "{m_}-1.0#{v}-9.9.zip", "{m}", "1.0"),
    ("query in the name", "{m_}-1.0?{v}-9.9.zip", "{m}", "1.0"),
    ("project named victim.zip", "{v}-9.9.zip", "{v}.zip", "9.9"),
]


@pytest.mark.parametrize(
    ("label", "pattern", "owner", "version"), HIJACKS, ids=[h[0] for h in HIJACKS]
)
def test_hijack_lists_only_the_owners_files(
    index_server, alice_project, tmp_path, label, pattern, owner, version
):
    victim, alice_files = alice_project
    mallory = unique("mallory")
    names = {
        "v": victim,
        "V": victim.upper(),
        "v_": victim.replace("-", "_"),
        "vdot": victim.replace("-", "."),
        "m": mallory,
        "m_": mallory.replace("-", "_"),
    }
    filename = pattern.format(**names)
    project = owner.format(**names)
    attack = archive(
        tmp_path / filename,
        filename.rsplit(".", 2 if ".tar." in filename else 1)[0],
        project,
        version,
        "mallory",
    )
    token = index_server.mint(unique("mallory-user"))
    answer = post_file(index_server, token, attack, project, version, "sdist")
    assert answer.status_code in (200, 400), (label, answer.status_code, answer.reason)

    page = simple_json(index_server, victim)
    assert sorted(f["filename"] for f in page["files"]) == alice_files
    html = requests.get(f"{index_server.simple_url}{victim}/", timeout=10).text
    assert "9.9" not in html and "mallory" not in html
    if answer.status_code == 200:
        # Accepted: listed under Mallory's own project, and only there.
        hers = simple_json(index_server, project)
        (listed,) = [f for f in hers["files"] if f["filename"] == filename]
        body = requests.get(urljoin(index_server.simple_url, listed["url"]), timeout=10)
        assert body.content == attack.read_bytes()

    target = tmp_path / "target"
    done = pip(
        "install",
        "--no-cache-dir",
        "--index-url",
        index_server.simple_url,
        "--target",
        str(target),
        victim,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_marker(target, victim.replace("-", "_")) == "alice"


def test_simple_pages_in_html_and_json(index_server, tmp_path):
    name = unique("Proto.Name")
    token = index_server.mint(unique("user"))
    wheel = write_wheel(tmp_path, name, "1.0")
    sdist = write_sdist(tmp_path, name, "1.0")
    for path, kind in ((wheel, "bdist_wheel"), (sdist, "sdist")):
        answer = post_file(index_server, token, path, name, "1.0", kind, requires_python=">=3.8")
        assert answer.status_code == 200, answer.reason
    normalized = name.lower().replace(".", "-")
    url = f"{index_server.simple_url}{normalized}/"

    # Content negotiation as warehouse does it.
    for accept, expected in [
        (None, "text/html; charset=utf-8"),
        (PIP_ACCEPT, JSON_V1),
        (HTML_V1, f"{HTML_V1}; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
        ("application/json", "text/html; charset=utf-8"),  # nothing acceptable: HTML
        (f"{JSON_V1};q=0.5, text/html;q=0.9", "text/html; charset=utf-8"),
        ("*/*", "text/html; charset=utf-8"),
    ]:
        headers = {"Accept": accept} if accept else {}
        response = requests.get(url, headers=headers, timeout=10)
        assert response.headers["Content-Type"] == expected, accept
        assert response.headers["Vary"] == "Accept"

    # PEP 691 JSON (with PEP 700's versions, size and upload-time; PEP 714's core-metadata).
    page = simple_json(index_server, normalized)
    assert page["meta"]["api-version"] == "1.4"
    assert page["name"] == normalized
    assert page["versions"] == ["1.0"]
    by_name = {f["filename"]: f for f in page["files"]}
    assert sorted(by_name) == sorted([wheel.name, sdist.name])
    for path in (wheel, sdist):
        entry = by_name[path.name]
        assert entry["hashes"] == {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        assert entry["requires-python"] == ">=3.8"
        assert entry["size"] == path.stat().st_size
        assert entry["yanked"] is False
        assert entry["upload-time"].endswith("Z")
        download = requests.get(urljoin(url, entry["url"]), timeout=10)
        assert download.content == path.read_bytes()
    assert by_name[sdist.name]["core-metadata"] is False

    # PEP 658: the wheel's METADATA, byte for byte, with the digest the page gives.
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{normalized.replace('-', '_')}-1.0.dist-info/METADATA")
    digest = hashlib.sha256(metadata).hexdigest()
    entry = by_name[wheel.name]
    assert entry["core-metadata"] == entry["data-dist-info-metadata"] == {"sha256": digest}
    served = requests.get(urljoin(url, entry["url"]) + ".metadata", timeout=10)
    assert served.status_code == 200 and served.content == metadata
    sdist_meta = requests.get(urljoin(url, by_name[sdist.name]["url"]) + ".metadata", timeout=10)
    assert sdist_meta.status_code == 404

    # PEP 503 HTML: sha256 fragment, escaped data-requires-python, PEP 714 attribute.
    html = requests.get(url, timeout=10).text
    assert f"#sha256={by_name[wheel.name]['hashes']['sha256']}" in html
    assert 'data-requires-python="&gt;=3.8"' in html
    assert f'data-core-metadata="sha256={digest}"' in html
    index = requests.get(index_server.simple_url, headers={"Accept": JSON_V1}, timeout=10).json()
    assert {"name": name} in index["projects"]


def test_unnormalized_names_are_redirected(index_server, dists):
    name = unique("Redirect")
    token = index_server.mint(unique("user"))
    made = dists(name)
    assert post_file(index_server, token, made.wheel, name, "1.0", "bdist_wheel").status_code == 200
    normalized = name.lower()
    base = index_server.url.rstrip("/")
    for path, location in [
        (f"/simple/{name}/", f"/simple/{normalized}/"),
        (f"/simple/{name.replace('-', '_')}/", f"/simple/{normalized}/"),
        (f"/simple/{normalized}", f"/simple/{normalized}/"),
        ("/simple", "/simple/"),
        (f"/pypi/{name}/json", f"/pypi/{normalized}/json"),
        (f"/pypi/{name}/1.0/json", f"/pypi/{normalized}/1.0/json"),
    ]:
        response = requests.get(base + path, allow_redirects=False, timeout=10)
        assert (response.status_code, response.headers.get("Location")) == (301, location)
    assert requests.get(f"{base}/simple/{unique('nothing')}/", timeout=10).status_code == 404


def test_json_api(index_server, tmp_path):
    name = unique("jsonapi")
    user = unique("user")
    token = index_server.mint(user)
    wheels = {v: write_wheel(tmp_path, name, v) for v in ("1.0", "2.0", "3.0rc1")}
    for version, wheel in wheels.items():
        answer = post_file(
            index_server,
            token,
            wheel,
            name,
            version,
            "bdist_wheel",
            summary=f"summary {version}",
            requires_python=">=3.8",
        )
        assert answer.status_code == 200, answer.reason
    base = index_server.url.rstrip("/")
    latest = requests.get(f"{base}/pypi/{name}/json", timeout=10)
    assert latest.status_code == 200
    assert latest.headers["Content-Type"] == "application/json"
    data = latest.json()
    # The latest release is the highest final one (warehouse's latest_release_factory).
    assert data["info"]["version"] == "2.0"
    assert data["info"]["summary"] == "summary 2.0"
    assert data["info"]["requires_python"] == ">=3.8"
    assert list(data["releases"]) == ["3.0rc1", "2.0", "1.0"]
    (url,) = data["urls"]
    assert url["filename"] == wheels["2.0"].name
    assert url["digests"]["sha256"] == hashlib.sha256(wheels["2.0"].read_bytes()).hexdigest()
    assert requests.get(url["url"], timeout=10).content == wheels["2.0"].read_bytes()
    assert data["ownership"]["roles"] == [{"role": "Owner", "user": user}]

    one = requests.get(f"{base}/pypi/{name}/1.0/json", timeout=10).json()
    assert one["info"]["version"] == "1.0" and "releases" not in one
    assert (
        requests.get(f"{base}/pypi/{name}/1.0.0/json", timeout=10).json()["info"]["version"]
        == "1.0"
    )
    for missing in (f"/pypi/{unique('nope')}/json", f"/pypi/{name}/9.9/json"):
        assert requests.get(base + missing, timeout=10).status_code == 404


def test_pip_index_versions_skips_releases_for_other_pythons(index_server, tmp_path):
    name = unique("pyreq")
    token = index_server.mint(unique("user"))
    for version, requires in (("1.0", ">=3.8"), ("2.0", ">=99")):
        wheel = write_wheel(tmp_path, name, version)
        answer = post_file(
            index_server, token, wheel, name, version, "bdist_wheel", requires_python=requires
        )
        assert answer.status_code == 200, answer.reason
    done = pip("index", "versions", "--index-url", index_server.simple_url, name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{name} (1.0)"


def test_uv_installs_from_the_stand_in(index_server, dists, tmp_path):
    name = unique("uvproj")
    token = index_server.mint(unique("user"))
    made = dists(name, marker="uv")
    for path, kind in ((made.wheel, "bdist_wheel"), (made.sdist, "sdist")):
        assert post_file(index_server, token, path, name, "1.0", kind).status_code == 200
    target = tmp_path / "target"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env["UV_NO_CONFIG"] = "1"
    done = subprocess.run(
        [
            str(BIN / "uv"),
            "pip",
            "install",
            "--no-cache",
            "--python",
            sys.executable,
            "--index-url",
            index_server.simple_url,
            "--target",
            str(target),
            name,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_marker(target, name.replace("-", "_")) == "uv"


def test_unrecorded_files_are_never_served(index_server, dists):
    name = unique("stray")
    token = index_server.mint(unique("user"))
    made = dists(name)
    assert post_file(index_server, token, made.wheel, name, "1.0", "bdist_wheel").status_code == 200
    (entry,) = simple_json(index_server, name)["files"]
    base = index_server.url.rstrip("/")
    # A file dropped into the folder by hand has no row: not listed, not served.
    stray = f"{name.replace('-', '_')}-9.0-py3-none-any.whl"
    with stray_file(index_server, stray, made.wheel.read_bytes()):
        assert [f["filename"] for f in simple_json(index_server, name)["files"]] == [
            made.wheel.name
        ]
        folder = entry["url"].rpartition("/")[0]
        assert requests.get(f"{base}{folder}/{stray}", timeout=10).status_code == 404
    # A recorded file under another digest path is not served either.
    wrong = "/packages/00/00/" + "0" * 60 + "/" + made.wheel.name
    assert requests.get(base + wrong, timeout=10).status_code == 404
    head = requests.head(base + entry["url"], timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == made.wheel.stat().st_size


def test_simple_index_lists_every_project_once(index_server):
    page = requests.get(index_server.simple_url, headers={"Accept": JSON_V1}, timeout=10).json()
    names = [p["name"] for p in page["projects"]]
    assert len(names) == len(set(names))
    assert json.loads(json.dumps(page))["meta"]["api-version"] == "1.4"


def test_pip_resolves_from_the_pep658_metadata_file(index_server, tmp_path):
    name = unique("meta")
    token = index_server.mint(unique("user"))
    wheel = write_wheel(tmp_path, name, "1.0")
    assert post_file(index_server, token, wheel, name, "1.0", "bdist_wheel").status_code == 200
    done = pip(
        "install",
        "--dry-run",
        "--no-deps",
        "-v",
        "--no-cache-dir",
        "--index-url",
        index_server.simple_url,
        name,
    )
    assert done.returncode == 0, done.stderr
    assert f"Downloading {wheel.name}.metadata" in done.stdout
    assert f"Would install {name}-1.0" in done.stdout
