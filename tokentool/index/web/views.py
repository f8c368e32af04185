"""The views, one function per warehouse route, each naming the warehouse view it follows.

A view returns a webob ``Response`` (through ``WebFace.page``), raises
``NotFound`` for warehouse's ``HTTPNotFound`` / a factory's ``KeyError``, or
``Redirect``. Everything shown comes from the database: the release's metadata
as recorded by its first file (``_jsonapi.release_info``), the files' rows.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any
from urllib.parse import urlencode

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from tokentool.index import IndexRefusal, mint_token
from tokentool.index._db import ProjectRow, TokenInfo, WebUser
from tokentool.index._jsonapi import _order, file_url
from tokentool.index._simple import base_url
from tokentool.index.web._base import REDIRECT_FIELD, NotFound, Redirect, is_safe_url, segment
from tokentool.index.web.accounts import (
    INVALID_PASSWORD_MESSAGE,
    MAX_PASSWORD_SIZE,
    NO_SUCH_USER,
    REQUIRED,
    Session,
    TooManyFailedLogins,
    check_password,
)

#: pyramid.exceptions.BadCSRFToken.explanation
BAD_CSRF_EXPLANATION = (
    "Access is denied.  This server can not verify that your cross-site request forgery "
    "token belongs to your login session.  Either you supplied the wrong cross-site request "
    "forgery token or your session no longer exists.  This may be due to session timeout or "
    "because browser is not supplying the credentials required, as can happen when the "
    "browser has cookies turned off."
)
#: CreateMacaroonForm
SCOPE_PREFIX = "scope:project:"
MAX_DESCRIPTION = 100

log = logging.getLogger("tokentool.index")


#: What a release recorded without metadata shows (a stand-in's database from before
#: releases kept it): every field the pages read, empty.
_NO_INFO: dict[str, Any] = {
    "summary": None,
    "description": "",
    "description_content_type": None,
    "license": None,
    "license_expression": None,
    "classifiers": [],
}


class Context:
    """One request as the templates see it: who is logged in, the CSRF token, the site."""

    def __init__(self, face: Any, request: Any, session: Session) -> None:
        self.face = face
        self.request = request
        self.session = session
        self.db = face.db
        self.base = base_url(request.environ, face.settings.url)

    @functools.cached_property
    def user(self) -> WebUser | None:
        """The session's user, unless the password changed since they logged in."""
        if self.session.user_id is None:
            return None
        user = self.db.reader().web_user(user_id=self.session.user_id)
        if user is None or user.password_date > self.session.auth:
            self.session.user_id = None
            self.session.changed = True
            return None
        return user

    @property
    def csrf_token(self) -> str:
        return self.session.csrf

    @property
    def path(self) -> str:
        return str(self.request.path_qs)

    def flashes(self) -> list[tuple[str, str]]:
        """The session's flash messages, taken (shown once)."""
        shown = [(str(q), str(m)) for q, m in self.session.flash]
        if shown:
            self.session.flash = []
            self.session.changed = True
        return shown

    def flash(self, message: str, queue: str = "success") -> None:
        self.session.flash.append([queue, message])
        self.session.changed = True

    def page(self, template: str, status: int = 200, **values: Any) -> Any:
        return self.face.page(self, template, status, **values)


def _require_user(context: Context) -> WebUser:
    """warehouse's ``forbidden`` view: not logged in means the login page, then back here."""
    user = context.user
    if user is None:
        query = urlencode({REDIRECT_FIELD: context.path})
        raise Redirect(f"{context.base}/account/login/?{query}")
    return user


def project_path(name: str, version: str | None = None) -> str:
    path = f"/project/{segment(name)}/"
    return path + f"{segment(version)}/" if version is not None else path


# -- read-only pages -------------------------------------------------------------------
def index(context: Context) -> Any:
    """``warehouse.views.index``; the stand-in lists its projects instead of counting them."""
    projects = context.db.reader().project_names()
    return context.page("index.html", projects=projects)


def _project(context: Context, name: str) -> ProjectRow:
    """``ProjectFactory.__getitem__``: by normalized name."""
    row = context.db.reader().project(canonicalize_name(name))
    if row is None:
        raise NotFound
    return row


def _releases(context: Context, project: ProjectRow) -> list[dict[str, Any]]:
    """Newest first (``Project.all_versions``); the metadata is not read here (``info_of``)."""
    keys = ("version", "canonical", "requires_python", "is_prerelease", "created", "yanked")
    releases = [
        {**dict(zip(keys, row[:6], strict=True)), "yanked_reason": row[6], "project": project}
        for row in context.db.reader().release_history(project.id)
    ]
    return sorted(releases, key=lambda r: _order(r["version"]), reverse=True)


def project(context: Context, name: str) -> Any:
    """``project_detail``: the latest release's page, at the project's own URL."""
    row = _project(context, name)
    if row.name != name:
        raise Redirect(_with_query(context, project_path(row.name)), 301)
    releases = _releases(context, row)
    if not releases:
        raise NotFound
    # Not yanked, final before pre-releases, then the highest version.
    latest = max(
        releases, key=lambda r: (not r["yanked"], not r["is_prerelease"], _order(r["version"]))
    )
    return _release_page(context, row, releases, latest, is_release_route=False)


def release(context: Context, name: str, version: str) -> Any:
    """``release_detail``: one release; an equivalent version or name redirects (301)."""
    row = _project(context, name)
    releases = _releases(context, row)
    try:
        wanted = canonicalize_version(version)
    except InvalidVersion:  # pragma: no cover - canonicalize_version keeps what it can't read
        raise NotFound from None
    matches = [r for r in releases if r["canonical"] == wanted]
    if len(matches) > 1:  # Project.__getitem__: then only the exact version
        matches = [r for r in matches if r["version"] == version]
    if len(matches) != 1:
        raise NotFound
    chosen = matches[0]
    if chosen["version"] != version or row.name != name:
        raise Redirect(_with_query(context, project_path(row.name, chosen["version"])), 301)
    return _release_page(context, row, releases, chosen, is_release_route=True)


def _with_query(context: Context, path: str) -> str:
    """``current_route_path``: the same query string, at the corrected path."""
    qs = context.request.query_string
    return path + (f"?{qs}" if qs else "")


def info_of(context: Context, release: dict[str, Any]) -> dict[str, Any]:
    """The release's recorded metadata: read and parsed only for a release a page shows."""
    tx = context.db.reader()
    info = json.loads(tx.release_info(release["project"].id, release["canonical"]))
    if "description" not in info:  # stored apart (release_descriptions) since issue 16
        info["description"] = tx.description_text(release["project"].id, release["canonical"])
    return {**_NO_INFO, **info}


def license_of(info: dict[str, Any]) -> str | None:
    """``release_detail``'s license: the License classifiers, then the first line of License."""
    classifiers = ", ".join(
        c.split(" :: ")[-1] for c in info.get("classifiers") or [] if c.startswith("License")
    )
    text = info.get("license")
    short = text.split("\n")[0] if text else None
    if short and len(short) > 100 and short == text:
        short = short[:100] + "..."
    if classifiers and short:
        return f"{classifiers} ({short})"
    return classifiers or short or None


#: Descriptions up to this size are rendered once and kept (at most ``_CACHED`` of them):
#: the cache holds a few tens of MiB whatever the uploads; a larger one is rendered per view.
_CACHE_UP_TO = 512 * 1024
_CACHED = 32


def rendered_description(text: str, content_type: str | None) -> str | None:
    """What warehouse stores as ``Description.html`` at upload (readme_renderer, sanitized).

    Rendered in a validator worker (``rules/_workers.py``) within a page's budget:
    a description that takes comrak minutes must not hold the server's GIL on a
    view. Past the budget the page shows no description (and nothing is cached)."""
    from tokentool.index.rules import _workers

    if not text:
        return None
    try:
        with _workers.budget(_workers.Budget(seconds=_PAGE_BUDGET_SECONDS)):
            if len(text) <= _CACHE_UP_TO:
                return _rendered_cached(text, content_type)
            return _render(text, content_type)
    except _workers.OutlivedWorker as exc:
        log.warning("release page: the description was not rendered (%s)", exc)
        return None


#: A page view waits for a validator worker and its render at most this long.
_PAGE_BUDGET_SECONDS = 10.0


def _render(text: str, content_type: str | None) -> str | None:
    import sys

    from tokentool.index.rules import _workers

    html: str | None = _workers.run("html", (text, content_type), size=sys.getsizeof(text))
    return html


_rendered_cached = functools.lru_cache(maxsize=_CACHED)(_render)


def pip_command(base: str, name: str, version: str, is_release_route: bool) -> str:
    """project-header.html's ``pip_command``, with Test PyPI's ``-i`` the stand-in's own."""
    pinned = f"=={version}" if is_release_route else ""
    try:
        epoch = Version(version).epoch
    except InvalidVersion:
        epoch = 0
    requirement = f"'{name}{pinned}'" if epoch else f"{name}{pinned}"
    return f"pip install -i {base}/simple/ {requirement}"


def _release_page(
    context: Context,
    row: ProjectRow,
    releases: list[dict[str, Any]],
    chosen: dict[str, Any],
    *,
    is_release_route: bool,
) -> Any:
    from natsort import natsorted

    tx = context.db.reader()
    files = tx.served_files(row.id, chosen["canonical"])
    uploaders = tx.uploaders(row.id, chosen["canonical"])
    sdists = natsorted(
        (f for f in files if f.packagetype == "sdist"), key=lambda f: f.filename, reverse=True
    )
    bdists = natsorted(
        (f for f in files if f.packagetype != "sdist"), key=lambda f: f.filename, reverse=True
    )
    info = info_of(context, chosen)
    maintainers = sorted({user for _role, user in tx.roles(row.id)})
    return context.page(
        "release.html",
        project=row,
        release=chosen,
        info=info,
        description=rendered_description(
            info.get("description") or "", info.get("description_content_type")
        ),
        files=[*sdists, *bdists],
        sdists=sdists,
        bdists=bdists,
        uploaders=uploaders,
        file_url=lambda f: file_url(context.base, f),
        releases=releases,
        maintainers=maintainers,
        license=license_of(info),
        pip=pip_command(context.base, row.name, chosen["version"], is_release_route),
        project_path=project_path,
    )


def profile(context: Context, username: str) -> Any:
    """``accounts.views.profile``: the user's projects that have a release, newest first."""
    tx = context.db.reader()
    user = tx.web_user(username=username)
    if user is None:
        raise NotFound
    projects = []
    for row in tx.user_projects(user.id):
        releases = _releases(context, row)
        if not releases:
            continue
        newest = max(releases, key=lambda r: r["created"] or 0)
        projects.append((row, newest, info_of(context, newest).get("summary")))
    projects.sort(key=lambda p: p[1]["created"] or 0, reverse=True)
    return context.page("profile.html", profile=user, projects=projects, project_path=project_path)


def p(context: Context, name: str) -> Any:
    """``config.add_redirect("/p/{name}/", "/project/{name}/")``."""
    raise Redirect(project_path(name), 301)


def p_version(context: Context, name: str, version: str) -> Any:
    raise Redirect(project_path(name, version), 301)


def u(context: Context, username: str) -> Any:
    raise Redirect(f"/user/{segment(username)}/", 301)


# -- accounts ------------------------------------------------------------------------
def login(context: Context) -> Any:
    """``accounts.views.login`` with ``LoginForm`` (no 2FA step: the stand-in has no TOTP)."""
    request = context.request
    redirect_to = request.POST.get(REDIRECT_FIELD, request.GET.get(REDIRECT_FIELD))
    if context.user is not None:
        raise Redirect("/manage/account/")
    errors: dict[str, list[str]] = {"username": [], "password": []}
    username = ""
    if request.method == "POST":
        username = str(request.POST.get("username", ""))
        password = str(request.POST.get("password", ""))
        user = _validate_login(context, username, password, errors)
        if user is not None:
            if not is_safe_url(redirect_to):
                redirect_to = "/manage/account/"
            # _login_user: a new session (and CSRF token) across the authentication boundary
            context.session.restart(user.id)
            raise Redirect(redirect_to)
    return context.page(
        "login.html",
        errors=errors,
        username=username,
        redirect_to=redirect_to if is_safe_url(redirect_to) else None,
    )


def _validate_login(
    context: Context, username: str, password: str, errors: dict[str, list[str]]
) -> WebUser | None:
    """``UsernameMixin`` then ``PasswordMixin``/``LoginForm.validate_password``, in order."""
    user = None
    name = username.strip()
    if not username:
        errors["username"].append(REQUIRED)
    elif "\x00" in username:
        errors["username"].append("Null bytes are not allowed.")
    elif "@" in name:
        errors["username"].append(
            "Usernames are not the same as email addresses. "
            "Enter your username instead of your email address."
        )
    else:
        user = context.db.reader().web_user(username=name)
        if user is None:
            errors["username"].append(NO_SUCH_USER)
    if not password:
        errors["password"].append(REQUIRED)
    elif "\x00" in password:
        errors["password"].append(INVALID_PASSWORD_MESSAGE)
    elif len(password) > MAX_PASSWORD_SIZE:
        errors["password"].append("Password too long.")
    elif user is not None:
        try:
            if not check_password(context.db, user, password, context.request.remote_addr or ""):
                errors["password"].append(INVALID_PASSWORD_MESSAGE)
        except TooManyFailedLogins as exc:
            errors["password"].append(exc.message)
    return user if not errors["username"] and not errors["password"] else None


def logout(context: Context) -> Any:
    """``accounts.views.logout``: GET asks, POST (with the CSRF token) ends the session."""
    request = context.request
    redirect_to = request.POST.get(REDIRECT_FIELD, request.GET.get(REDIRECT_FIELD))
    if not is_safe_url(redirect_to):
        redirect_to = "/"
    if context.user is None:
        raise Redirect(redirect_to)
    if request.method == "POST":
        context.session.restart()  # session.invalidate()
        raise Redirect(redirect_to)
    return context.page("logout.html", redirect_to=redirect_to)


def account(context: Context) -> Any:
    """``manage.account``: the API tokens section of the account page."""
    user = _require_user(context)
    tokens = context.db.reader().user_tokens(user.id)
    return context.page("account.html", user=user, tokens=tokens, scope_names=_scope_names)


def _scope_names(token: TokenInfo) -> list[str]:
    """A token's projects as its scope column links them ([] for the entire account)."""
    kind, _sep, name = token.scope.partition(":")
    return [name] if kind == "project" else []


def token(context: Context) -> Any:
    """``ProvisionMacaroonViews``: GET the form, POST create, or POST delete."""
    user = _require_user(context)
    request = context.request
    projects = [p.normalized_name for p in context.db.reader().user_projects(user.id)]
    if request.method == "POST":
        if "confirm_password" in request.POST and "macaroon_id" in request.POST:
            return _delete_token(context, user)
        return _create_token(context, user, projects)
    selected = request.GET.get("selected_project")
    return context.page(
        "token.html",
        user=user,
        projects=projects,
        errors={"description": [], "token_scope": []},
        description="",
        scope=SCOPE_PREFIX + selected if selected else None,
        token=None,
    )


def _create_token(context: Context, user: WebUser, projects: list[str]) -> Any:
    """``create_macaroon``: ``CreateMacaroonForm`` in field order, then the same mint."""
    if not user.email_verified:
        context.flash("Verify your email to create an API token.", "error")
        raise Redirect("/manage/account/")
    post = context.request.POST
    description = str(post.get("description", ""))
    scope = str(post.get("token_scope", ""))
    errors: dict[str, list[str]] = {"description": [], "token_scope": []}
    if not description:
        errors["description"].append("Specify a token name")
    elif len(description) > MAX_DESCRIPTION:
        errors["description"].append("Description must be 100 characters or less")
    elif context.db.reader().description_taken(user.id, description):
        errors["description"].append("API token name already in use")
    project = _scope(scope, projects, errors["token_scope"])
    raw = None
    if not errors["description"] and not errors["token_scope"]:
        domain = context.db.reader().get_meta("domain") or "localhost"
        try:
            with context.db.transaction() as tx:
                raw = mint_token(tx, domain, user.id, project, description)
        except IndexRefusal as refusal:  # raced, or a blank name: the form's error
            errors["description"].append(str(refusal))
    return context.page(
        "token.html",
        user=user,
        projects=projects,
        errors=errors,
        description=description,
        scope=scope,
        token=raw,
        token_project=project,
    )


def _scope(scope: str, projects: list[str], errors: list[str]) -> str | None:
    """``validate_token_scope``: ``scope:user``, or ``scope:project:NAME`` of an owned project."""
    if not scope:
        errors.append("Specify the token scope")
        return None
    _prefix, sep, kind = scope.partition(":")
    if not sep:
        errors.append(f"Unknown token scope: {scope}")
    elif kind == "unspecified":
        errors.append("Specify the token scope")
    elif kind == "user":
        return None
    else:
        kind, sep, value = kind.partition(":")
        if not sep or kind != "project":
            errors.append(f"Unknown token scope: {scope}")
        elif value not in projects:
            errors.append(f"Unknown or invalid project name: {value}")
        else:
            return value
    return None


def _delete_token(context: Context, user: WebUser) -> Any:
    """``delete_macaroon``: the password again, then the token, if it is the user's."""
    post = context.request.POST
    identifier = str(post.get("macaroon_id", ""))
    password = str(post.get("confirm_password", ""))
    valid = bool(identifier) and bool(password) and "\x00" not in password
    if valid and len(password) <= MAX_PASSWORD_SIZE:
        try:
            valid = check_password(context.db, user, password, context.request.remote_addr or "")
        except TooManyFailedLogins:
            valid = False
    else:
        valid = False
    mine = {t.id: t for t in context.db.reader().user_tokens(user.id)}
    if valid and context.db.reader().token(identifier) is None:
        valid = False  # validate_macaroon_id: "No such macaroon"
    if not valid:
        context.flash("Invalid credentials. Try again", "error")
    elif identifier not in mine:
        context.flash("API Token does not exist.", "warning")
    else:
        with context.db.transaction() as tx:
            tx.delete_token(identifier)
        context.flash(f"Deleted API token '{mine[identifier].description}'.")
    raise Redirect("/manage/account/")
