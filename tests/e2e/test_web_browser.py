"""The tutorial's web steps in a real browser (Debian's Chromium, driven by playwright).

Log in, make a project-scoped token on the account page, copy it with the copy
button, upload with it (real twine: accepted), upload another project with it
(refused in warehouse's words), remove it on the account page, upload again
(``Invalid or non-existent authentication information``). Screenshots of each
page are saved in the test's temporary folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import TOKEN_LIKE, assert_no_token, cli_state, twine_upload, unique
from playwright.sync_api import expect

from tokentool.index import RunningServer

PASSWORD = "tutorial password"


def test_token_made_copied_used_and_removed_in_the_browser(
    index_server: RunningServer, chromium, dists, tmp_path: Path
) -> None:
    user, project, other = unique("web-user"), unique("web-proj"), unique("web-other")
    # alice owns a project (the tutorial's first upload) and sets a web password
    first = twine_upload(index_server.upload_url, index_server.mint(user), *dists(project).both)
    assert first.returncode == 0, first.output
    state, env = cli_state(index_server)
    passwd = subprocess.run(
        [sys.executable, "-m", "tokentool.index", "passwd", user, *state],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert passwd.returncode == 0, passwd.stderr

    context = chromium.new_context(base_url=index_server.url.rstrip("/"))
    context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=index_server.url.rstrip("/")
    )
    urls: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: urls.append(request.url))
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> None:
        page.screenshot(path=shots / f"{name}.png", full_page=True)

    # log in
    page.goto("/account/login/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    shot("1-login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/manage/account/")
    shot("2-account")

    # Add API token: name, a project scope, Create token
    page.get_by_role("link", name="Add API token").click()
    page.wait_for_url("**/manage/account/token/")
    page.get_by_label("Token name").fill("tutorial")
    scope = page.get_by_label("Scope")
    labels = [o.strip() for o in scope.locator("option").all_inner_texts()]
    assert labels == ["Select scope...", "Entire account (all projects)", f"Project: {project}"]
    scope.select_option(label=f"Project: {project}")
    shot("3-token-form")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("code#provisioned-key").inner_text().strip()
    assert TOKEN_LIKE.fullmatch(token)
    copy = page.get_by_role("button", name="Copy token to clipboard")
    copy.click()
    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == token
    shot("4-token-created")

    # the copied token uploads its project (accepted) and nothing else (refused)
    accepted = twine_upload(index_server.upload_url, copied, *dists(project, "2.0").both)
    assert accepted.returncode == 0, accepted.output
    refused = twine_upload(index_server.upload_url, copied, *dists(other).both)
    assert refused.returncode == 1
    status, reason = refused.http_error()
    assert status == "403 Forbidden"
    assert reason.startswith(
        f"Invalid API Token: project-scoped token is not valid for project: '{other}'"
    )

    # the release page of that upload, and the account page: used, then removed
    page.goto(f"/project/{project}/2.0/")
    assert page.get_by_role("heading", level=1).inner_text() == f"{project} 2.0"
    assert page.locator("#pip-command").inner_text().endswith(f" {project}==2.0")
    shot("5-release")
    page.goto("/manage/account/")
    row = page.locator("tr", has_text="tutorial")
    assert "Never" not in row.inner_text()  # last used: the accepted upload
    assert project in row.inner_text()
    row.get_by_label("Your password").fill(PASSWORD)
    row.get_by_role("button", name="Remove API token tutorial").click()
    page.get_by_text("Deleted API token 'tutorial'.").wait_for()
    assert page.locator("tr", has_text="tutorial").count() == 0
    shot("6-token-removed")

    gone = twine_upload(index_server.upload_url, copied, *dists(project, "3.0").both)
    assert gone.returncode == 1
    status, reason = gone.http_error()
    assert status == "403 Forbidden"
    assert reason.startswith("Invalid or non-existent authentication information.")

    # the token was never in a URL, and nowhere in the server's log
    assert urls and not any(token in url for url in urls)
    assert_no_token(index_server.log_path.read_text(encoding="utf-8"), token)
    context.close()
