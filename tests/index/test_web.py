"""The web face in-process (webob requests against the WSGI app): fast, many cases.

Pages as warehouse's views answer them (redirects to the stored name and
version, 404s, 405s), hostile metadata escaped, CSRF refused, logins
rate-limited, and the token page: minted as ``index mint`` mints, shown once.
The real-browser walk through the tutorial is in tests/e2e/test_web_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import (
    TOKEN_LIKE,
    Harness,
    WebClient,
    upload_fields,
    write_wheel,
)

from tokentool.index import Index
from tokentool.index._schema import releases
from tokentool.index.web._base import SECURITY_HEADERS
from tokentool.index.web.accounts import LOGIN_LIMITS

PASSWORD = "correct horse battery"


@pytest.fixture
def site(tmp_path: Path):
    harness = Harness(tmp_path / "index")
    yield harness
    harness.close()


def upload(
    site: Harness,
    token: str,
    name: str,
    version: str = "1.0",
    extra: list[tuple[str, str]] = (),
    **fields: str,
) -> None:
    path = write_wheel(site.data_dir.parent, name, version)
    data = path.read_bytes()
    items = list(upload_fields(name, version, data, extra=fields).items()) + list(extra)
    answer = site.post(items, (path.name, data, "application/octet-stream"), token)
    assert answer.status == 200, answer.reason


def set_password(site: Harness, user: str, password: str = PASSWORD) -> None:
    with Index(site.data_dir) as index:
        index.set_password(user, password)


def text_of(response) -> str:
    return response.body.decode("utf-8")


# -- read-only pages ------------------------------------------------------------------
def test_release_page_shows_what_the_tutorial_looks_for(site: Harness) -> None:
    token = site.mint("alice")
    upload(
        site,
        token,
        "Foo.Bar",
        "1.0",
        extra=[
            ("classifiers", "License :: OSI Approved :: MIT License"),
            ("classifiers", "Programming Language :: Python :: 3"),
        ],
        summary="A tiny thing",
        description="# Hello\n\nSome *markdown*.",
        description_content_type="text/markdown",
        requires_python=">=3.9,<4",
        license="MIT",
    )
    upload(site, token, "Foo.Bar", "2.0rc1", summary="Pre")
    web = WebClient(site.app)
    page = web.get("/project/Foo.Bar/1.0/")
    assert page.status_int == 200
    html = text_of(page)
    assert "<h1>Foo.Bar 1.0</h1>" in html
    assert "pip install -i http://localhost:80/simple/ Foo.Bar==1.0" in html
    assert '<p id="summary">A tiny thing</p>' in html
    assert "Hello</h1>" in html and "<em>markdown</em>" in html  # readme_renderer
    assert "MIT License (MIT)" in html  # release_detail's license: classifier (first line)
    assert "&lt;4, &gt;=3.9" in html  # requires-python as stored, spaced as warehouse does
    assert "<li>OSI Approved :: MIT License</li>" in html  # format_classifiers
    row = json.loads(web.get("/pypi/foo-bar/1.0/json").body)["urls"][0]
    for digest in (row["digests"]["sha256"], row["digests"]["md5"], row["digests"]["blake2b_256"]):
        assert f"<code>{digest}</code>" in html
    assert row["filename"] in html
    assert '<a href="/user/alice/">alice</a>' in html  # uploader and maintainer
    # the release history: both, newest first, this one marked
    history = html[html.index('id="history"') :]
    assert history.index("2.0rc1") < history.index(">1.0<")
    assert "<strong>This release</strong>" in history
    # the project page: the latest final release, pip without a version (project-header.html)
    latest = text_of(web.get("/project/Foo.Bar/"))
    assert "<h1>Foo.Bar 1.0</h1>" in latest
    assert "pip install -i http://localhost:80/simple/ Foo.Bar<" in latest
    for path in ("/", "/user/alice/"):
        assert '<a href="/project/Foo.Bar/">Foo.Bar</a>' in text_of(web.get(path))


def test_every_page_sends_the_security_headers(site: Harness) -> None:
    upload(site, site.mint("alice"), "proj", "1.0")
    web = WebClient(site.app)
    for path in ("/", "/project/proj/", "/project/proj/1.0/", "/user/alice/", "/account/login/"):
        response = web.get(path)
        assert response.status_int == 200, path
        for name, value in SECURITY_HEADERS:
            assert response.headers[name] == value, (path, name)
        # the one script and the one style are what the CSP allows, by their hashes
        policy = response.headers["Content-Security-Policy"]
        for tag in ("script", "style"):
            (inline,) = re.findall(rf"<{tag}>(.*?)</{tag}>", text_of(response), re.S)
            digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
            assert f"{tag}-src 'sha256-{digest}'" in policy, (path, tag)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        # ProjectFactory finds by normalized name; project_detail redirects to the stored one
        ("/project/foo-bar/", "/project/Foo.Bar/"),
        ("/project/FOO_BAR/", "/project/Foo.Bar/"),
        # release_detail: the version as stored, and the name, in one redirect, query kept
        ("/project/foo_bar/1.0.0/?x=1", "/project/Foo.Bar/1.0/?x=1"),
        ("/project/Foo.Bar/1.0.0/", "/project/Foo.Bar/1.0/"),
        ("/project/foo-bar/1.0/", "/project/Foo.Bar/1.0/"),
        # append_slash=HTTPMovedPermanently, and warehouse's add_redirect routes
        ("/project/Foo.Bar", "/project/Foo.Bar/"),
        ("/project/Foo.Bar/1.0", "/project/Foo.Bar/1.0/"),
        ("/p/foo-bar/", "/project/foo-bar/"),
        ("/u/alice/", "/user/alice/"),
        ("/account/login", "/account/login/"),
    ],
)
def test_redirects_as_warehouse(site: Harness, path: str, location: str) -> None:
    upload(site, site.mint("alice"), "Foo.Bar", "1.0")
    response = WebClient(site.app).get(path)
    assert response.status_int == 301
    assert response.location == "http://localhost" + location


@pytest.mark.parametrize(
    "path",
    [
        "/project/nope/",
        "/project/Foo.Bar/9.9/",
        "/project/Foo.Bar/not-a-version/",
        "/user/nobody/",
        "/user/Alice/",  # UserFactory: the exact username
        "/project/%ff/",
    ],
)
def test_not_found(site: Harness, path: str) -> None:
    upload(site, site.mint("alice"), "Foo.Bar", "1.0")
    response = WebClient(site.app).get(path)
    assert response.status_int == 404
    assert "Page Not Found (404)" in text_of(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_read_only_pages_refuse_other_methods(site: Harness) -> None:
    web = WebClient(site.app)
    web.get("/")
    response = web.post("/", {})
    assert response.status_int == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


HOSTILE = "<script>alert('x')</script>"


def test_hostile_metadata_is_escaped(site: Harness) -> None:
    upload(
        site,
        site.mint("alice"),
        "evil",
        "1.0",
        summary=HOSTILE,
        description=f"{HOSTILE}\n\n<img src=x onerror=alert(1)>\n\n[a](javascript:alert(1))",
        description_content_type="text/markdown",
        license=HOSTILE,
        requires_python=">=3",
    )
    page = text_of(WebClient(site.app).get("/project/evil/1.0/"))
    # the only script on the page is the copy button's
    assert page.count("<script") == 1
    assert "onerror" not in page and "javascript:" not in page  # readme_renderer's sanitizer
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page  # summary, license
    # the description's raw script is gone (sanitized), not rendered as markup


def test_hostile_classifier_stored_by_any_means_is_escaped(site: Harness) -> None:
    """The upload refuses an unknown classifier; a row holding one renders it as text."""
    upload(site, site.mint("alice"), "evil", "1.0")
    with site.db.transaction() as tx:
        info = {"classifiers": [f"{HOSTILE} :: {HOSTILE}"], "summary": HOSTILE}
        tx.conn.execute(sa.update(releases).values(info=json.dumps(info)))
    page = text_of(WebClient(site.app).get("/project/evil/1.0/"))
    assert page.count("<script") == 1
    assert page.count("&lt;script&gt;") == 3


def test_description_in_every_content_type_is_sanitized(site: Harness) -> None:
    token = site.mint("alice")
    for number, kind in enumerate(["text/x-rst", "text/plain", "text/markdown", ""], start=1):
        upload(
            site,
            token,
            "evil",
            f"{number}.0",
            description=f"Title\n=====\n\n{HOSTILE}\n\n.. image:: javascript:alert(1)\n",
            description_content_type=kind or None,
        )
        page = text_of(WebClient(site.app).get(f"/project/evil/{number}.0/"))
        assert page.count("<script") == 1, kind
        assert not re.search(r'(src|href)="javascript:', page), kind


# -- accounts and tokens ---------------------------------------------------------------
def test_login_then_tokens_page_needs_it(site: Harness) -> None:
    set_password(site, "alice")
    web = WebClient(site.app)
    response = web.get("/manage/account/token/")
    assert response.status_int == 303  # warehouse's forbidden view: log in first
    assert response.location.endswith("/account/login/?next=%2Fmanage%2Faccount%2Ftoken%2F")
    web.get("/account/login/?next=%2Fmanage%2Faccount%2Ftoken%2F")
    response = web.post(
        "/account/login/",
        {"username": "alice", "password": PASSWORD, "next": "/manage/account/token/"},
    )
    assert response.status_int == 303
    assert response.location == "http://localhost/manage/account/token/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert web.get("/manage/account/token/").status_int == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_login_never_redirects_off_site(site: Harness, target: str) -> None:
    set_password(site, "alice")
    web = WebClient(site.app)
    web.get("/account/login/")
    response = web.post(
        "/account/login/", {"username": "alice", "password": PASSWORD, "next": target}
    )
    assert response.location == "http://localhost/manage/account/"


@pytest.mark.parametrize(
    ("username", "password", "field", "message"),
    [
        ("", PASSWORD, "username", "This field is required."),
        ("bob", PASSWORD, "username", "No user found with that username"),
        ("a@b.c", PASSWORD, "username", "Usernames are not the same as email addresses."),
        ("alice", "", "password", "This field is required."),
        ("alice", "wrong password", "password", "The password is invalid. Try again."),
        ("alice", "x" * 4097, "password", "Password too long."),
    ],
)
def test_login_errors_in_warehouse_words(
    site: Harness, username: str, password: str, field: str, message: str
) -> None:
    set_password(site, "alice")
    web = WebClient(site.app)
    web.get("/account/login/")
    response = web.post("/account/login/", {"username": username, "password": password})
    assert response.status_int == 200
    errors = re.search(rf'<ul class="errors" id="{field}-errors">(.*?)</ul>', text_of(response))
    assert errors and message in errors.group(1)
    assert "session_id" not in web.cookies or web.get("/manage/account/").status_int == 303


def test_login_attempts_are_rate_limited(site: Harness) -> None:
    set_password(site, "alice")
    web = WebClient(site.app)
    web.get("/account/login/")
    for _ in range(LOGIN_LIMITS["user"]):
        response = web.post("/account/login/", {"username": "alice", "password": "wrong pass"})
        assert "The password is invalid. Try again." in text_of(response)
    # the right password no longer helps, for 5 minutes (humanize's words)
    response = web.post("/account/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_int == 200
    assert re.search(
        r"There have been too many unsuccessful login attempts\. You have been locked out for "
        r"(4|5) minutes\. Please try again later\.",
        text_of(response),
    )
    assert web.get("/manage/account/").status_int == 303
    # the same IP is locked out for another user too (warehouse's "ip.login")
    set_password(site, "bob")
    response = web.post("/account/login/", {"username": "bob", "password": PASSWORD})
    assert "too many unsuccessful login attempts" in text_of(response)
    # another IP is not
    other = WebClient(site.app, remote_addr="198.51.100.7")
    assert other.login("bob", PASSWORD).status_int == 303


@pytest.mark.parametrize("csrf", [False, "", "forged"])
def test_forms_refuse_a_missing_or_wrong_csrf_token(site: Harness, csrf: bool | str) -> None:
    upload(site, site.mint("alice"), "proj")
    set_password(site, "alice")
    web = WebClient(site.app)
    response = web.post("/account/login/", {"username": "alice", "password": PASSWORD}, csrf=csrf)
    assert response.status == "400 Bad CSRF Token"
    assert "cross-site request forgery" in text_of(response)
    assert web.login("alice", PASSWORD).status_int == 303
    before = len(Index(site.data_dir).listing()["tokens"])
    for path, data in [
        ("/manage/account/token/", {"description": "t", "token_scope": "scope:user"}),
        ("/account/logout/", {}),
    ]:
        assert web.post(path, data, csrf=csrf).status == "400 Bad CSRF Token"
    assert len(Index(site.data_dir).listing()["tokens"]) == before
    assert web.get("/manage/account/").status_int == 200  # still logged in


def _create(web: WebClient, name: str, scope: str):
    web.get("/manage/account/token/")
    return web.post("/manage/account/token/", {"description": name, "token_scope": scope})


def test_token_is_minted_as_index_mint_mints_and_shown_once(site: Harness) -> None:
    upload(site, site.mint("alice", None), "Proj_One")
    set_password(site, "alice")
    web = WebClient(site.app)
    web.login("alice", PASSWORD)
    form = text_of(web.get("/manage/account/token/"))
    assert '<option value="scope:user" >Entire account (all projects)</option>' in form
    assert '<option value="scope:project:proj-one" >Project: proj-one</option>' in form
    response = _create(web, "ci", "scope:project:proj-one")
    assert response.status_int == 200
    assert response.headers["Cache-Control"] == "no-store"
    raw = re.search(r'<code id="provisioned-key">([^<]+)</code>', text_of(response)).group(1)
    assert TOKEN_LIKE.fullmatch(raw)
    # the same caveats as `index mint --project`: [1, [name]], [2, [id]], stored with the row
    minted = site.mint("alice", "proj-one")
    with Index(site.data_dir) as index:
        tokens = {t["description"]: t for t in index.listing()["tokens"]}
        assert tokens["ci"]["scope"] == "project:proj-one"
    shape = []
    for token in (raw, minted):
        row = site.db.reader().token(json.loads(_inspect(token))["identifier"])
        shape.append([json.loads(c)[0] for c in row.caveats])
    assert shape[0] == shape[1] == [1, 2]
    # accepted for its project, refused elsewhere in warehouse's words
    upload(site, raw, "Proj_One", "2.0")
    other = site.post(
        upload_fields("other", "1.0", b"x"), ("other-1.0-py3-none-any.whl", b"x", "x"), raw
    )
    assert other.status == 403
    assert other.reason.startswith(  # [1, names] and [2, ids], minted and stored: 4 times
        "Invalid API Token: project-scoped token is not valid for project: 'other'"
    )
    # never again: not on the account page, not on the token page
    for path in ("/manage/account/", "/manage/account/token/"):
        assert raw not in text_of(web.get(path))
        assert not TOKEN_LIKE.search(text_of(web.get(path)))


def _inspect(token: str) -> str:
    ran = subprocess.run(
        [sys.executable, "-m", "tokentool", "inspect", "--json"],
        input=token,
        capture_output=True,
        text=True,
        check=True,
    )
    return ran.stdout


@pytest.mark.parametrize(
    ("name", "scope", "field", "message"),
    [
        ("", "scope:user", "token-name-errors", "Specify a token name"),
        ("x" * 101, "scope:user", "token-name-errors", "Description must be 100 characters"),
        ("taken", "scope:user", "token-name-errors", "API token name already in use"),
        ("n", "", "scope-errors", "Specify the token scope"),
        ("n", "scope:unspecified", "scope-errors", "Specify the token scope"),
        ("n", "nonsense", "scope-errors", "Unknown token scope: nonsense"),
        ("n", "scope:org:x", "scope-errors", "Unknown token scope: scope:org:x"),
        ("n", "scope:project:bobs", "scope-errors", "Unknown or invalid project name: bobs"),
    ],
)
def test_token_form_errors_in_warehouse_words(
    site: Harness, name: str, scope: str, field: str, message: str
) -> None:
    upload(site, site.mint("bob"), "bobs")
    site.mint("alice", description="taken")
    set_password(site, "alice")
    web = WebClient(site.app)
    web.login("alice", PASSWORD)
    before = len(Index(site.data_dir).listing()["tokens"])
    response = _create(web, name, scope)
    assert response.status_int == 200
    errors = re.search(rf'<ul class="errors" id="{field}">(.*?)</ul>', text_of(response))
    assert errors and message in errors.group(1)
    assert "provisioned-key" not in text_of(response)
    assert len(Index(site.data_dir).listing()["tokens"]) == before


def test_remove_needs_the_password_then_revokes(site: Harness) -> None:
    set_password(site, "alice")
    web = WebClient(site.app)
    web.login("alice", PASSWORD)
    raw = re.search(
        r'id="provisioned-key">([^<]+)<', text_of(_create(web, "laptop", "scope:user"))
    ).group(1)
    upload(site, raw, "made-by-web")
    page = text_of(web.get("/manage/account/"))
    row = re.search(r'<tr id="token-([0-9a-f-]+)">(.*?)</tr>', page, re.S)
    identifier, cells = row.groups()
    assert "laptop" in cells and "All projects" in cells and "Never" not in cells  # last used
    wrong = web.post(
        "/manage/account/token/", {"macaroon_id": identifier, "confirm_password": "nope nope"}
    )
    assert wrong.status_int == 303
    assert "Invalid credentials. Try again" in text_of(web.get("/manage/account/"))
    assert site.db.reader().token(identifier) is not None
    gone = web.post(
        "/manage/account/token/", {"macaroon_id": identifier, "confirm_password": PASSWORD}
    )
    assert gone.status_int == 303
    assert "Deleted API token &#39;laptop&#39;." in text_of(web.get("/manage/account/"))
    assert site.db.reader().token(identifier) is None
    refused = site.post(upload_fields("made-by-web", "2.0", b"x"), ("f.whl", b"x", "x"), raw)
    assert refused.status == 403
    assert refused.reason.startswith("Invalid or non-existent authentication information.")


def test_another_users_token_cannot_be_removed(site: Harness) -> None:
    site.mint("bob", description="bobs")
    bobs = next(t for t in Index(site.data_dir).listing()["tokens"] if t["user"] == "bob")
    set_password(site, "alice")
    web = WebClient(site.app)
    web.login("alice", PASSWORD)
    web.get("/manage/account/token/")  # a page with a form: this session's CSRF token
    web.post(
        "/manage/account/token/",
        {"macaroon_id": bobs["identifier"], "confirm_password": PASSWORD},
    )
    assert "API Token does not exist." in text_of(web.get("/manage/account/"))
    assert site.db.reader().token(bobs["identifier"]) is not None


def test_logout_and_a_new_password_end_the_session(site: Harness) -> None:
    set_password(site, "alice")
    web = WebClient(site.app)
    web.login("alice", PASSWORD)
    stolen = dict(web.cookies)
    assert "Log out" in text_of(web.get("/account/logout/"))
    assert web.post("/account/logout/", {}).status_int == 303
    assert web.get("/manage/account/").status_int == 303
    # a copy of the old cookie still works until the password changes (signed cookies)
    thief = WebClient(site.app)
    thief.cookies = stolen
    assert thief.get("/manage/account/").status_int == 200
    set_password(site, "alice", "a new password")
    assert thief.get("/manage/account/").status_int == 303


def test_unverified_email_cannot_create_tokens(site: Harness) -> None:
    with Index(site.data_dir) as index:
        index.mint("alice", unverified_email=True)
    set_password(site, "alice")
    web = WebClient(site.app)
    web.login("alice", PASSWORD)
    assert "Verify your primary email address" in text_of(web.get("/manage/account/"))
    response = _create(web, "x", "scope:user")
    assert response.status_int == 303
    assert "Verify your email to create an API token." in text_of(web.get("/manage/account/"))


def test_oversized_form_is_refused_unread(site: Harness) -> None:
    web = WebClient(site.app)
    web.get("/account/login/")
    response = web.post("/account/login/", {"username": "a" * 70_000, "password": "x"})
    assert response.status_int == 413


def test_passwd_reads_stdin_never_argv(tmp_path: Path) -> None:
    data = tmp_path / "d"
    argv = [sys.executable, "-m", "tokentool.index", "passwd", "carol", "--data-dir", str(data)]
    ran = subprocess.run(argv, input=f"{PASSWORD}\n", capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip() == "password set for carol"
    assert PASSWORD not in ran.stdout + ran.stderr
    with Harness(data) as harness:
        assert WebClient(harness.app).login("carol", PASSWORD).status_int == 303
        row = harness.db.reader().web_user(username="carol")
        assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    for given, message in [("short\n", "at least 8 characters"), ("a\nb\n", "one line")]:
        ran = subprocess.run(argv, input=given, capture_output=True, text=True)
        assert ran.returncode == 2
        assert message in ran.stderr and len(ran.stderr.strip().splitlines()) == 1


def test_a_yanked_release_is_marked_everywhere(site: Harness) -> None:
    token = site.mint("alice")
    upload(site, token, "proj", "1.0")
    upload(site, token, "proj", "2.0")
    argv = [sys.executable, "-m", "tokentool.index", "yank", "PROJ", "2.0.0"]
    ran = subprocess.run(
        [*argv, "--reason", "<b>broken</b>", "--data-dir", str(site.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip() == "yanked PROJ 2.0"
    web = WebClient(site.app)
    page = text_of(web.get("/project/proj/2.0/"))
    assert "This release has been yanked. Reason: &lt;b&gt;broken&lt;/b&gt;" in page
    history = page[page.index('id="history"') :]
    assert '<span class="yanked">Yanked</span> (&lt;b&gt;broken&lt;/b&gt;)' in history
    # project_detail and the JSON API: the latest release that is not yanked
    assert "<h1>proj 1.0</h1>" in text_of(web.get("/project/proj/"))
    data = json.loads(web.get("/pypi/proj/json").body)
    assert data["info"]["version"] == "1.0" and data["info"]["yanked"] is False
    assert {f["yanked_reason"] for f in data["releases"]["2.0"]} == {"<b>broken</b>"}
    # PEP 592 on /simple/: the reason in JSON, data-yanked in HTML
    simple = json.loads(web.get("/simple/proj/", Accept="application/vnd.pypi.simple.v1+json").body)
    assert {f["filename"].split("-")[1]: f["yanked"] for f in simple["files"]} == {
        "1.0": False,
        "2.0": "<b>broken</b>",
    }
    links = text_of(web.get("/simple/proj/", Accept="text/html"))
    assert links.count('data-yanked="&lt;b&gt;broken&lt;/b&gt;"') == 1
    Index(site.data_dir).yank("proj", "2.0", undo=True)
    assert "yanked" not in text_of(web.get("/project/proj/2.0/")).split("<main>")[1]
