"""The real ``invoke`` program against a real stand-in, with a temporary ``.env``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    INVOKE,
    ROOT,
    TASKS_LINE,
    LenientIndex,
    PypiServer,
    Ran,
    Terminal,
    assert_no_token,
    clean_environ,
    closed_port,
    invoke,
    mint_raw,
    run,
    simple_listing,
    write_env,
)

import tokentool
from tokentool.index import RunningServer, start_server
from tokentool.token import PROJECT_NAME_RULE

pytestmark = pytest.mark.slow

USER = "alice"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("standin")) as server:
        yield server


@pytest.fixture(scope="module")
def raw(standin: RunningServer) -> str:
    return standin.mint(USER, description="task tests")


@pytest.fixture
def workdir(tmp_path: Path, standin: RunningServer, raw: str) -> Path:
    write_env(tmp_path, TOKEN=raw, INDEX_URL=standin.upload_url, PYPI_USERNAME=USER)
    return tmp_path


@pytest.fixture(scope="module")
def permissive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    server = PypiServer(tmp_path_factory.mktemp("permissive"))
    yield server
    server.stop()


def _ok(ran: Ran, raw: str) -> Ran:
    assert ran.returncode == 0, ran.output
    assert "Traceback" not in ran.output
    assert_no_token(ran.output, raw)
    return ran


def _fails(ran: Ran, raw: str | None, message: str) -> None:
    """Exit 1, and the last stderr line is exactly ``message``."""
    assert ran.returncode == 1, ran.output
    assert "Traceback" not in ran.output
    assert ran.stderr.strip().splitlines()[-1] == message
    if raw:
        assert_no_token(ran.output, raw)


def test_upload_is_accepted_and_listed(workdir: Path, raw: str, standin: RunningServer) -> None:
    ran = _ok(invoke(workdir, "upload", "--project", "Task-Upload"), raw)
    built = re.search(r"^built Task-Upload (\S+): (\S+), (\S+)$", ran.stdout, re.MULTILINE)
    assert built, ran.stdout
    version, sdist, wheel = built.groups()
    assert sdist == f"task_upload-{version}.tar.gz"
    assert f"index answer for {sdist}: 200 OK" in ran.stdout
    assert f"index answer for {wheel}: 200 OK" in ran.stdout
    assert "derived token restrictions: " in ran.stdout
    assert "only for project(s) named task-upload" in ran.stdout
    # twine's last lines, with the stand-in's release page
    view = f"{standin.url}project/Task-Upload/{version}/"
    assert ran.stdout.strip().endswith(f"accepted: both files uploaded\nView at:\n{view}")
    with urllib.request.urlopen(view, timeout=10) as page:
        text = page.read().decode()
    assert sdist in text and wheel in text
    listing = simple_listing(f"{standin.url}simple/task-upload/")
    assert sdist in listing and wheel in listing


def test_two_uploads_in_a_row(workdir: Path, raw: str, standin: RunningServer) -> None:
    versions = []
    for _ in range(2):
        ran = _ok(invoke(workdir, "upload"), raw)  # default name from PYPI_USERNAME
        match = re.search(r"^built (test-alice-\d{4}-\d\d-\d\d) (\S+):", ran.stdout, re.MULTILINE)
        assert match, ran.stdout
        versions.append(match[2])
    assert versions[0] != versions[1]
    listing = simple_listing(f"{standin.url}simple/{match[1]}/")
    assert all(v in listing for v in versions)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        # The stored display name, as warehouse quotes it, not the typed name.
        ("project", "project-scoped token is not valid for project: 'Task.Verify'"),
        ("expired", "token is expired"),
    ],
)
def test_verify_rejection_passes_on_the_standin(
    workdir: Path, raw: str, standin: RunningServer, case: str, reason: str
) -> None:
    _ok(invoke(workdir, "upload", "--project", "Task.Verify"), raw)
    before = _stored(standin)
    ran = _ok(invoke(workdir, "verify-rejection", "--project", "task-verify", "--case", case), raw)
    lines = ran.stdout.strip().splitlines()
    assert f"offline check: Invalid API Token: {reason}" in lines
    assert lines[-8].startswith("probe with an unknown token: task_verify-")
    assert lines[-7] == (
        "index answer to an unknown token: 403 Invalid or non-existent authentication "
        f"information. See {standin.url.rstrip('/')}/help/#invalid-auth for more information."
    )
    # Warehouse judges caveats before the signature: the control gets their reasons.
    assert lines[-5] == (
        f"index answer to the token with a broken signature: 403 Invalid API Token: {reason}"
    )
    assert lines[-4].startswith("probe with the token: task_verify-")
    assert lines[-4].endswith(f"-py3-none-any.whl, wrong digest, to {standin.upload_url}")
    assert lines[-3] == f"index answer to the token: 403 Invalid API Token: {reason}"
    assert lines[-2] == f"index answer: 403 Invalid API Token: {reason}"
    assert lines[-1] == f"refused as expected: 403 Invalid API Token: {reason}"
    assert _stored(standin) == before  # a negative check publishes nothing


def _stored(server: RunningServer) -> list[str]:
    return sorted(p.name for p in (server.data_dir / "packages").rglob("*") if p.is_file())


def test_verify_rejection_refuses_a_missing_project(
    workdir: Path, raw: str, standin: RunningServer
) -> None:
    """The quota guard: one sentence, nothing sent; --allow-new-project goes on."""
    before = _stored(standin)
    ran = invoke(workdir, "verify-rejection", "--project", "task-new-name")
    _fails(
        ran,
        raw,
        "error: project 'task-new-name' does not exist on the index, and a first upload of a "
        "new name creates the project before the token is judged and counts against the "
        "new-project quota even when it is refused: upload it once first "
        "(invoke upload --project=task-new-name), or pass --allow-new-project to spend the quota",
    )
    assert "built " not in ran.stdout
    ran = _ok(
        invoke(workdir, "verify-rejection", "-p", "task-new-name", "--allow-new-project"), raw
    )
    assert ran.stdout.strip().endswith("not valid for project: 'task-new-name'")
    assert _stored(standin) == before
    # The stand-in rolled the refused creation back: the name is still missing.
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{standin.url}pypi/task-new-name/json", timeout=10)


def test_verify_rejection_other_option(workdir: Path, raw: str) -> None:
    ran = _ok(
        invoke(
            workdir, "verify-rejection", "-p", "task-x", "--other", "task-y", "--allow-new-project"
        ),
        raw,
    )
    assert "derived token (restricted to task-y) restrictions: " in ran.stdout


def test_verify_rejection_on_permissive_index_cannot_be_probed(
    tmp_path: Path, permissive: PypiServer
) -> None:
    """Bare pypiserver fails the calibration: nothing published, fails closed; --real-upload
    keeps the old check (and publishes, as it warns)."""
    raw = mint_raw()
    write_env(tmp_path, TOKEN=raw, INDEX_URL=permissive.url)
    before = sorted(os.listdir(permissive.packages))
    for case in ("project", "expired"):
        ran = invoke(
            tmp_path, "verify-rejection", "-p", "perm", "--case", case, "--allow-new-project"
        )
        assert ran.returncode == 1, ran.output
        last = ran.stderr.strip().splitlines()[-1]
        assert last.startswith(
            f"the index at {permissive.url} can't be probed, so nothing was sent with the real "
            "file's digest and nothing was published: the index answered an unknown token with"
        ), last
        assert_no_token(ran.output, raw)
    assert sorted(os.listdir(permissive.packages)) == before
    ran = invoke(tmp_path, "verify-rejection", "-p", "perm", "--allow-new-project", "--real-upload")
    _fails(ran, raw, "SECURITY: the index accepted a token restricted to perm-elsewhere")
    ran = invoke(
        tmp_path,
        "verify-rejection",
        "-p",
        "perm",
        "--case",
        "expired",
        "--allow-new-project",
        "--real-upload",
    )
    _fails(ran, raw, "SECURITY: the index accepted an expired token")


def test_verify_rejection_on_a_lenient_index_is_a_security_failure(tmp_path: Path) -> None:
    """Calibrated (warehouse's order) but caveats forgotten: SECURITY, and nothing stored."""
    folder = tmp_path / "stored"
    folder.mkdir()
    with LenientIndex(folder, {"perm"}) as lenient:
        write_env(tmp_path, TOKEN=lenient.token, INDEX_URL=lenient.url)
        ran = invoke(tmp_path, "verify-rejection", "--project", "perm")
    _fails(ran, lenient.token, "SECURITY: the index accepted a token restricted to perm-elsewhere")
    assert "index answer: 400 The digest supplied does not match" in ran.stdout
    assert os.listdir(folder) == []


def test_verify_rejection_refused_for_another_reason(tmp_path: Path, standin: RunningServer):
    raw = mint_raw()  # right format, but the stand-in has never issued it
    write_env(tmp_path, TOKEN=raw, INDEX_URL=standin.upload_url)
    ran = invoke(tmp_path, "verify-rejection", "--project", "task-auth", "--allow-new-project")
    _fails(
        ran,
        raw,
        "the upload of task-auth was refused, but not because of the token's restriction: "
        "the index does not know this token: "
        "403 Invalid or non-existent authentication information. See "
        f"{standin.url.rstrip('/')}/help/#invalid-auth for more information. "
        "(expected 403 Invalid API Token: project-scoped token is not valid for project: "
        "'task-auth')",
    )


@pytest.mark.parametrize(
    ("standing", "why"),
    [
        ({"no_2fa": True}, "the token's user has not enabled two-factor authentication"),
        ({"unverified_email": True}, "the token's user has no verified primary e-mail address"),
    ],
)
def test_verify_rejection_and_probe_name_account_refusals(
    tmp_path: Path, standin: RunningServer, standing: dict[str, bool], why: str
) -> None:
    """Warehouse judges the token before the account on an existing project (the restriction
    wins), and the account before creating a new one (named, not "another reason")."""
    user = "acct-" + next(iter(standing)).replace("_", "-")
    good = standin.mint(user)
    write_env(tmp_path, TOKEN=good, INDEX_URL=standin.upload_url)
    _ok(invoke(tmp_path, "upload", "-p", user), good)
    bad = standin.mint(user, **standing)
    write_env(tmp_path, TOKEN=bad, INDEX_URL=standin.upload_url)
    ran = invoke(tmp_path, "probe", "-p", user)
    assert ran.returncode == 1, ran.output
    last = ran.stderr.strip().splitlines()[-1]
    kind = "no-2fa" if "two-factor" in why else "unverified-email"
    assert last.startswith(
        f"refused ({kind}: {why}): 403 User '{user}', associated with the API token"
    )
    assert_no_token(ran.output, good, bad)
    ran = _ok(invoke(tmp_path, "verify-rejection", "-p", user), bad)
    assert ran.stdout.strip().endswith(f"not valid for project: '{user}'")
    new = f"{user}-new"
    ran = invoke(tmp_path, "verify-rejection", "-p", new, "--allow-new-project")
    _fails(
        ran,
        bad,
        f"the upload of {new} was refused, but not because of the token's restriction: {why}: "
        + ran.stderr.strip().splitlines()[-1].split(f"{why}: ", 1)[1],
    )
    assert f"{why}: 403 User '{user}', associated with the API token used, does not" in ran.stderr


@pytest.mark.parametrize("task", ["upload", "verify-rejection"])
def test_closed_port(tmp_path: Path, raw: str, task: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/legacy/"
    write_env(tmp_path, TOKEN=raw, INDEX_URL=url)
    ran = invoke(tmp_path, task, "--project", "closed")
    if task == "upload":
        unreachable = f"index unreachable: could not connect to {url} (connection refused)"
        _fails(ran, raw, f"error: upload of closed {_version(ran)} failed: {unreachable}")
    else:  # the quota guard asks the JSON API first
        json_url = url.replace("/legacy/", "/pypi/closed/json")
        _fails(
            ran,
            raw,
            f"index unreachable: could not connect to {json_url} (connection refused)",
        )


def _version(ran: Ran) -> str:
    match = re.search(r"^built \S+ (\S+):", ran.stdout, re.MULTILINE)
    assert match, ran.output
    return match[1]


def test_configuration_errors(tmp_path: Path, raw: str, standin: RunningServer) -> None:
    upload = ("upload", "--project", "cfg")
    env = tmp_path / ".env"
    _fails(
        invoke(tmp_path, *upload),
        raw,
        "error: no token found: set TOKEN in .env (see .env.example) or in the environment, "
        "or keep it where twine looks for https://test.pypi.org/legacy/ "
        "(keyring, ~/.pypirc, TWINE_PASSWORD)",
    )
    write_env(tmp_path, TOKEN="pypi-" + raw[5:60])
    _fails(
        invoke(tmp_path, *upload),
        raw,
        "error: the token from TOKEN in .env is not usable: the token could not be decoded: "
        "it is truncated or corrupted",
    )
    write_env(tmp_path, TOKEN="secret-password")
    ran = invoke(tmp_path, *upload)
    _fails(
        ran,
        raw,
        "error: the token from TOKEN in .env is not usable: this is not a PyPI token: "
        "it does not start with 'pypi-'",
    )
    assert "secret-password" not in ran.output
    env.unlink()
    env.mkdir()
    _fails(invoke(tmp_path, *upload), raw, "error: cannot read .env: it is not a regular file")
    env.rmdir()
    write_env(tmp_path, TOKEN=raw, INDEX_URL=standin.upload_url)
    _fails(
        invoke(tmp_path, "upload", "--project", "no such name"),
        raw,
        f"error: invalid project name: 'no such name' ({PROJECT_NAME_RULE})",
    )
    _fails(
        invoke(tmp_path, "upload"),
        raw,
        "error: no project name: pass --project=NAME or set PYPI_USERNAME in .env "
        "for the default test-<username>-<date>",
    )
    _fails(
        invoke(tmp_path, *upload, "--index-url", "https://test.pypi.org/legacy/"),
        raw,
        "error: the token was issued by localhost, not by test.pypi.org, but the repository URL "
        "points at test.pypi.org (https://test.pypi.org/legacy/): test.pypi.org would refuse it",
    )


def test_public_site_guards(tmp_path: Path) -> None:
    """Tokens of the public sites: checked before anything is built or sent."""
    prod, test = mint_raw("pypi.org"), mint_raw("test.pypi.org")
    write_env(tmp_path, TOKEN=prod)
    _fails(  # INDEX_URL defaults to Test PyPI
        invoke(tmp_path, "verify-rejection", "-p", "g"),
        prod,
        "error: the token was issued by pypi.org but the repository URL points at test.pypi.org "
        "(https://test.pypi.org/legacy/): a pypi.org token only works on pypi.org",
    )
    prod_url = "https://upload.pypi.org/legacy/"
    _fails(
        invoke(tmp_path, "upload", "-p", "g", "--index-url", prod_url),
        prod,
        "error: refusing to upload a throwaway test project to production pypi.org "
        f"({prod_url}); pass --allow-production if you really mean it",
    )
    write_env(tmp_path, TOKEN=test, INDEX_URL=prod_url)
    _fails(
        invoke(tmp_path, "upload", "-p", "g", "--allow-production"),
        test,
        "error: the token was issued by test.pypi.org but the repository URL points at pypi.org "
        f"({prod_url}): a test.pypi.org token only works on test.pypi.org",
    )


def test_environment_wins_and_readable_env_warns(
    tmp_path: Path, raw: str, standin: RunningServer
) -> None:
    write_env(tmp_path, mode=0o644, TOKEN="pypi-not-this-one", INDEX_URL="http://127.0.0.1:9/")
    env = clean_environ(TOKEN=raw, INDEX_URL=standin.upload_url)
    ran = _ok(invoke(tmp_path, "upload", "-p", "task-env", env=env), raw)
    assert ran.stderr.splitlines()[0] == (
        "warning: .env is readable by other users and holds a live token; run: chmod 600 .env"
    )
    assert "accepted: both files uploaded" in ran.stdout


def test_build_task(tmp_path: Path) -> None:
    ran = invoke(tmp_path, "build", "--project", "Task_Build", "--version", "2.0")
    assert ran.returncode == 0, ran.output
    out = tmp_path / "dist" / "Task_Build-2.0"
    assert ran.stdout.splitlines() == [
        f"built Task_Build 2.0 into {Path('dist') / 'Task_Build-2.0'}/:",
        "  task_build-2.0.tar.gz",
        "  task_build-2.0-py3-none-any.whl",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "task_build-2.0-py3-none-any.whl",
        "task_build-2.0.tar.gz",
    ]
    _fails(
        invoke(tmp_path, "build", "--project", "Task_Build", "--version", "2.0"),
        None,
        f"error: output folder {out} is not empty: give a fresh one",
    )


def test_token_task_prints_only_the_derived_token(workdir: Path, raw: str) -> None:
    ran = invoke(workdir, "token", "--project", "piped", "--ttl", "1h")
    assert ran.returncode == 0, ran.output
    derived = tokentool.load(ran.stdout)
    assert ran.stdout == derived.dump() + "\n"
    assert derived.dump() != raw
    assert derived.project_names() == frozenset({"piped"})
    start, end = derived.window() or (0, 0)
    assert end - start == 3600
    assert ran.stderr.startswith("token from: TOKEN in .env\nrestrictions: ")
    assert_no_token(ran.stderr, raw, derived.dump())


def test_inspect_task(workdir: Path, raw: str, standin: RunningServer) -> None:
    ran = _ok(invoke(workdir, "inspect"), raw)
    token = tokentool.load(raw)
    assert "token from:  TOKEN in .env" in ran.stdout
    assert f"identifier:  {token.identifier}" in ran.stdout
    assert "issuer:      other" in ran.stdout
    assert f"index:       {standin.upload_url} (the token's issuer matches)" in ran.stdout


def test_list_and_help() -> None:
    ran = invoke(Path.cwd(), "--list")
    assert ran.returncode == 0
    for name in (
        "build",
        "cycle",
        "demo",
        "index",
        "inspect",
        "probe",
        "token",
        "upload",
        "verify-rejection",
    ):
        line = next(x for x in ran.stdout.splitlines() if x.strip().startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 10, line
    assert "Default task: demo" in ran.stdout
    for name in (
        "build",
        "cycle",
        "upload",
        "verify-rejection",
        "token",
        "inspect",
        "index",
        "probe",
    ):
        help_text = invoke(Path.cwd(), "--help", name).stdout
        options = help_text.split("Options:", 1)[1]
        entries = re.findall(r"^  (-\S.*?)(?=^  -|\Z)", options, re.MULTILINE | re.DOTALL)
        assert entries, help_text
        for entry in entries:
            flag, _, text = entry.partition("   ")
            assert text.strip(), f"{name}: option {flag.strip()} has no help"


def test_no_task_output_ever_shows_a_token(
    workdir: Path, raw: str, permissive: PypiServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every task, success and failure, with --echo: neither token nor anything token-shaped."""
    runs = [
        ("-e", "upload", "-p", "sec"),
        ("-e", "verify-rejection", "-p", "sec"),
        ("-e", "verify-rejection", "-p", "sec", "--case", "expired"),
        ("-e", "inspect"),
        ("-e", "build", "-p", "sec"),
        ("-e", "upload", "-p", "sec", "--index-url", permissive.url),
        ("-e", "verify-rejection", "-p", "sec", "--index-url", permissive.url),
        ("-e", "upload", "-p", "sec", "--index-url", f"http://127.0.0.1:{closed_port()}/"),
        ("-e", "upload", "-p", "sec", "--index-url", "https://test.pypi.org/legacy/"),
        ("-e", "upload", "-p", "sec", "--version", "1.0+bad"),
        ("-e", "verify-rejection", "-p", "sec", "--other", "SEC"),
        ("-e", "probe", "-p", "sec"),
        ("-e", "probe", "-p", "sec", "--expect-refusal"),
        ("-e", "probe", "-p", "sec", "--index-url", permissive.url),
    ]
    codes = []
    for args in runs:
        ran = invoke(workdir, *args)
        codes.append(ran.returncode)
        assert "Traceback" not in ran.output
        assert_no_token(ran.output, raw)
    assert codes == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 4, 3]
    # `invoke token` prints the derived token on stdout by design, and nowhere else.
    ran = invoke(workdir, "-e", "token", "-p", "sec")
    assert ran.returncode == 0
    assert_no_token(ran.stderr, raw, ran.stdout.strip())
    assert raw not in ran.stdout


def test_demo_task(tmp_path: Path) -> None:
    """`invoke demo` passes on its own, and ignores the user's .env and variables."""
    env_file = write_env(tmp_path, TOKEN="pypi-users-own", INDEX_URL="http://127.0.0.1:9/")
    before = (env_file.read_bytes(), env_file.stat().st_mtime_ns)
    env = clean_environ(TOKEN="pypi-from-environment", PYPI_USERNAME="someone")
    ran = invoke(tmp_path, "demo", env=env, timeout=300)
    assert ran.returncode == 0, ran.output
    assert (env_file.read_bytes(), env_file.stat().st_mtime_ns) == before
    assert_no_token(ran.output)
    summary = ran.stdout.split("\nSummary:\n", 1)[1].splitlines()
    assert [re.sub(r"\s+", " ", s).strip() for s in summary[:-1]] == [
        re.sub(r"\s+", " ", s)
        for s in [
            f"1. start the stand-in index pass {_t(summary[0])}",
            f"2. mint a user-wide token pass {_t(summary[1])}",
            f"3. upload {_demo_project()} with a project-restricted token pass {_t(summary[2])}",
            "4. verify-rejection --case=project: token for another project is refused pass "
            + _t(summary[3]),
            f"5. verify-rejection --case=expired: expired token is refused pass {_t(summary[4])}",
            f"6. pip install the upload and import it pass {_t(summary[5])}",
            f"7. stop the stand-in pass {_t(summary[6])}",
        ]
    ]
    assert re.fullmatch(r"All steps passed in \d+\.\d\ds \(7/7\)\.", summary[-1])


def _t(line: str) -> str:
    match = re.search(r"\d+\.\d\ds$", line)
    assert match, line
    return match[0]


def _demo_project() -> str:
    import datetime

    return f"test-demo-{datetime.date.today().isoformat()}"


def test_index_task_serves_in_the_foreground(tmp_path: Path) -> None:
    """From a subfolder: data in the root's .tokentool/index; the URL and a mint hint printed."""
    (tmp_path / "tasks.py").write_text(TASKS_LINE)
    (tmp_path / "sub").mkdir()
    argv = [str(INVOKE), "index", "--port", "0"]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path / "sub",
        env=clean_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(r"Serving on (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, line
        data = tmp_path / ".tokentool" / "index"
        assert [proc.stderr.readline() for _ in range(3)] == [
            f"upload URL: {match[1]}legacy/ (REPOSITORY_URL in .env)\n",
            f"mint a token: tokentool index mint --user NAME --data-dir {data}\n",
            f"web pages: {match[1]} (to log in: tokentool index passwd NAME --data-dir {data})\n",
        ]
        for path in ("simple/", ""):  # the index, and the web pages
            with urllib.request.urlopen(match[1] + path, timeout=10) as response:
                assert response.status == 200
        assert data.is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        rest = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert rest.endswith(
        f"stopped (on SIGTERM): {match[1]} no longer answers; the data stays in {data}\n"
    )


def test_one_default_port() -> None:
    from tokentool.index.__main__ import build_parser

    assert build_parser().parse_args(["serve"]).port == 8080
    help_text = invoke(ROOT, "--help", "index").stdout
    assert "(default: 8080)" in help_text


def test_a_subfolder_run_uses_the_root_env(workdir: Path, raw: str) -> None:
    deep = workdir / "src" / "pkg"
    deep.mkdir(parents=True)
    invoke(workdir, "--list")  # writes the project's one-line tasks.py at the root
    ran = _ok(invoke(deep, "inspect"), raw)
    assert f"token from:  TOKEN in {workdir / '.env'}" in ran.stdout
    ran = _ok(invoke(deep, "build", "-p", "from-sub", "--version", "1.0"), raw)
    assert (workdir / "dist" / "from-sub-1.0").is_dir()
    assert not (deep / "dist").exists()


def test_cycle_runs_upload_then_verify_with_one_set_of_options(workdir: Path, raw: str) -> None:
    ran = _ok(invoke(workdir, "cycle", "--project", "task-cycle", "--read-timeout", "30"), raw)
    out = ran.stdout
    assert out.index("== upload") < out.index("accepted: both files uploaded")
    assert out.index("accepted: both files uploaded") < out.index("== verify-rejection")
    assert re.search(r"^built task-cycle \S+: task_cycle-", out, re.MULTILINE)
    assert "only for project(s) named task-cycle-elsewhere" in out
    assert out.strip().splitlines()[-1] == (
        "refused as expected: 403 Invalid API Token: "
        "project-scoped token is not valid for project: 'task-cycle'"
    )


def test_token_from_pypirc_is_used_and_named(tmp_path: Path, raw: str, standin: RunningServer):
    (tmp_path / ".pypirc").write_text(
        "[distutils]\nindex-servers = standin\n"
        f"[standin]\nrepository = {standin.upload_url}\nusername = __token__\npassword = {raw}\n"
    )
    write_env(tmp_path, REPOSITORY_URL=standin.upload_url)
    ran = _ok(invoke(tmp_path, "upload", "-p", "task-pypirc"), raw)  # HOME is tmp_path
    assert ran.stdout.startswith("token from: ~/.pypirc [standin]\n"), ran.stdout
    assert "accepted: both files uploaded" in ran.stdout


def test_tokentool_commands_find_the_same_root(workdir: Path, raw: str) -> None:
    """`tokentool upload|verify-rejection|cycle` for people who do not use invoke."""
    deep = workdir / "docs"
    deep.mkdir()
    (workdir / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    tool = str(INVOKE.parent / "tokentool")
    env = clean_environ(HOME=str(workdir))

    def cli(*args: str) -> Ran:
        return run([tool, *args], cwd=deep, env=env, timeout=120)

    ran = _ok(cli("cycle", "-p", "cli-cycle", "--connect-timeout", "5"), raw)
    assert "index answer for cli_cycle-" in ran.stdout
    assert ran.stdout.strip().endswith("not valid for project: 'cli-cycle'")
    bad = cli("upload", "-p", "cli-up", "--repository-url", "https://test.pypi.org/simple/")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "tokentool: error: https://test.pypi.org/simple/ is the simple index that pip reads; "
        "the upload URL ends in /legacy/ (e.g. https://test.pypi.org/legacy/)"
    )
    ran = cli("verify-rejection", "-p", "cli-v", "--case", "expired", "--allow-new-project")
    _ok(ran, raw)
    assert ran.stdout.strip().endswith(
        "refused as expected: 403 Invalid API Token: token is expired"
    )
    # The stand-in's data folder is found from the root too.
    mint = cli("index", "mint", "--user", "carol")
    assert mint.returncode == 0, mint.output
    assert (workdir / ".tokentool" / "index").is_dir()
    assert not (deep / ".tokentool").exists()


def test_chained_tasks_warn_that_options_bind_to_the_task_before(workdir: Path, raw: str) -> None:
    ran = _ok(
        invoke(
            workdir, "upload", "-p", "task-chain", "verify-rejection", "--project", "task-chain"
        ),
        raw,
    )
    warning = (
        "warning: Invoke gives each option to the task before it; for one set of options "
        "use: invoke cycle --project=NAME"
    )
    assert ran.stderr.count(warning) == 1, ran.stderr


def test_hidden_prompt_when_no_source_has_a_token(tmp_path: Path, raw: str) -> None:
    """At a terminal, with no token anywhere: a prompt that echoes nothing, named as the source."""
    (tmp_path / "tasks.py").write_text(TASKS_LINE)
    env = clean_environ(HOME=str(tmp_path))
    terminal = Terminal([str(INVOKE), "inspect"], env=env, cwd=tmp_path)
    terminal.read_until(b"input hidden", timeout=60)
    terminal.type_line(raw)
    terminal.read_until(b"index:", timeout=60)
    code = terminal.wait()
    screen = terminal.screen
    assert b"PyPI token (input hidden): " in screen
    assert b"token from:  the prompt" in screen
    assert raw.encode() not in screen and raw[-30:].encode() not in screen
    assert code == 0


def test_probe_task(
    workdir: Path, raw: str, standin: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`invoke probe`: accepted 0, refused 1, bad input 2, inconclusive 3; nothing stored."""
    _ok(invoke(workdir, "upload", "-p", "Task.Probe"), raw)
    _ok(invoke(workdir, "upload", "-p", "task-probe-other"), raw)
    before = _stored(standin)
    ran = _ok(invoke(workdir, "probe", "-p", "task-probe"), raw)
    lines = ran.stdout.strip().splitlines()
    assert lines[0] == "token from: TOKEN in .env"
    assert lines[-2] == (
        "index answer to the token: 400 The digest supplied does not match a digest "
        "calculated from the uploaded file."
    )
    assert (
        lines[-1]
        == "accepted: the index would take this token for 'task-probe' (nothing was published)"
    )

    scoped = standin.mint(USER, project="Task.Probe")
    env = tmp_path_factory.mktemp("scoped")  # its own project root, its own .env
    write_env(env, TOKEN=scoped, INDEX_URL=standin.upload_url)
    ran = invoke(env, "probe", "-p", "task-probe-other")
    assert ran.returncode == 1, ran.output
    assert ran.stderr.strip().splitlines()[-1] == (
        "refused (token: the token's restrictions or signature): 403 Invalid API Token: "
        + ", ".join(["project-scoped token is not valid for project: 'task-probe-other'"] * 4)
    )
    assert_no_token(ran.output, scoped, raw)

    ran = invoke(workdir, "probe", "-p", "task-probe-missing")
    assert ran.returncode == 3, ran.output
    assert (
        ran.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "inconclusive: project 'task-probe-missing' does not exist on the index, and a first "
            "upload of a new name creates the project before the token is judged"
        )
    )
    assert "built " not in ran.stdout  # nothing was sent

    url = f"http://127.0.0.1:{closed_port()}/legacy/"
    ran = invoke(workdir, "probe", "-p", "task-probe", "--repository-url", url)
    assert ran.returncode == 3, ran.output
    assert ran.stderr.strip().splitlines()[-1] == (
        "inconclusive: index unreachable: could not connect to "
        f"{url.replace('/legacy/', '/pypi/task-probe/json')} (connection refused)"
    )

    ran = invoke(workdir, "probe", "-p", "task-probe", "--version", "1.0+bad")
    assert ran.returncode == 2, ran.output
    assert ran.stderr.strip().splitlines()[-1].startswith("error: ")
    assert _stored(standin) == before


def test_cycle_asks_for_the_token_once(tmp_path: Path, raw: str, standin: RunningServer) -> None:
    """At a terminal with no token anywhere, both steps of ``invoke cycle`` use one answer."""
    (tmp_path / "tasks.py").write_text(TASKS_LINE)
    write_env(tmp_path, REPOSITORY_URL=standin.upload_url)
    env = clean_environ(HOME=str(tmp_path))
    argv = [str(INVOKE), "cycle", "--project", "task-one-prompt"]
    terminal = Terminal(argv, env=env, cwd=tmp_path)
    terminal.read_until(b"input hidden", timeout=60)
    terminal.type_line(raw)
    terminal.read_until(b"refused as expected", timeout=120)
    terminal.read_until(b"input hidden", timeout=2)  # a second prompt would show by now
    if b"refused as expected" not in terminal.screen:
        terminal.type_line("")  # let a wrongly prompting child end
    code = terminal.wait()
    assert terminal.screen.count(b"PyPI token (input hidden): ") == 1, terminal.screen
    assert b"refused as expected" in terminal.screen
    assert raw.encode() not in terminal.screen
    assert code == 0
