"""The stand-in's web face: the pages the packaging tutorial visits on Test PyPI.

Routes and views as warehouse names them (``warehouse/routes.py``):

* ``index`` ``/``, ``packaging.project`` ``/project/{name}/``,
  ``packaging.release`` ``/project/{name}/{version}/``, ``accounts.profile``
  ``/user/{username}/`` (and the ``/p/`` and ``/u/`` redirects): read-only,
  rendered from the database alone (``pages.py``);
* ``accounts.login`` ``/account/login/``, ``accounts.logout``
  ``/account/logout/``, ``manage.account`` ``/manage/account/`` and
  ``manage.account.token`` ``/manage/account/token/``: the API token page,
  minting with the same function as ``tokentool index mint``
  (``tokentool.index.mint_token``).

Jinja2 with autoescape (warehouse's engine), templates shipped as package data,
no script but the copy button's, allowed by its hash in the
Content-Security-Policy. Every answer is ``Cache-Control: no-store``: the token
page is shown once, answered to the POST that created it (warehouse's own
"exception to our pattern of redirecting POST to GET"), and never again.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from tokentool.index._db import Database
from tokentool.index.rules import Site

__all__ = ["WebFace"]

StartResponse = Callable[..., Any]

#: The only script: the copy buttons. Allowed by its hash, nothing else runs.
COPY_SCRIPT = (
    'document.addEventListener("click", function (event) {\n'
    '  var button = event.target.closest("button[data-copy]");\n'
    "  if (!button) { return; }\n"
    '  var text = document.getElementById(button.getAttribute("data-copy")).textContent.trim();\n'
    "  navigator.clipboard.writeText(text).then(function () {\n"
    '    button.textContent = "Copied";\n'
    "  });\n"
    "});\n"
)
STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:0 auto;padding:0 1rem;line-height:1.5}"
    "header,footer{border-bottom:1px solid #ccc;padding:.5rem 0}footer{border:0;"
    "border-top:1px solid #ccc;margin-top:2rem;font-size:.9em}"
    "nav a,nav form{margin-right:1rem;display:inline}"
    "code,pre{background:#f4f4f4;padding:.1rem .3rem;overflow-wrap:anywhere}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}.errors{color:#a00}.flash{background:#ffe;"
    "border:1px solid #cc9;padding:.5rem}.yanked{color:#a00;font-weight:bold}"
    ".description{border:1px solid #ddd;padding:0 1rem}"
)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; "
        f"script-src {_csp_hash(COPY_SCRIPT)}; style-src {_csp_hash(STYLE)}; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "origin-when-cross-origin"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "deny"),
]

#: A form is a few fields; a body beyond this is refused before it is read.
MAX_FORM_BYTES = 64 * 1024
#: pyramid's PATH_SEGMENT_SAFE: what ``route_path`` leaves unquoted in a segment.
_SEGMENT_SAFE = "~!$&'()*+,;=:@"
SAFE_METHODS = "GET, HEAD, OPTIONS"
REDIRECT_FIELD = "next"

_ROUTES: list[tuple[str, re.Pattern[str], bool]] = [
    # (view, path pattern, takes any method: require_methods=False)
    ("index", re.compile(r"/"), False),
    ("project", re.compile(r"/project/([^/]+)/"), False),
    ("release", re.compile(r"/project/([^/]+)/([^/]+)/"), False),
    ("profile", re.compile(r"/user/([^/]+)/"), False),
    ("p", re.compile(r"/p/([^/]+)/"), False),
    ("p_version", re.compile(r"/p/([^/]+)/([^/]+)/"), False),
    ("u", re.compile(r"/u/([^/]+)/"), False),
    ("login", re.compile(r"/account/login/"), True),
    ("logout", re.compile(r"/account/logout/"), True),
    ("account", re.compile(r"/manage/account/"), False),
    ("token", re.compile(r"/manage/account/token/"), True),
]


def segment(text: str) -> str:
    return quote(text, safe=_SEGMENT_SAFE)


def match(path: str) -> tuple[str, tuple[str, ...], bool] | None:
    for name, pattern, any_method in _ROUTES:
        found = pattern.fullmatch(path)
        if found:
            return name, found.groups(), any_method
    return None


def is_safe_url(url: str | None) -> bool:
    """``warehouse.utils.http.is_safe_url`` for a same-site path: nothing else is followed."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return False
    return all(c.isprintable() and c not in "\\" for c in url)


class Redirect(Exception):
    def __init__(self, location: str, status: int = 303) -> None:
        super().__init__(location)
        self.location = location
        self.status = status


class WebFace:
    """The web routes; one instance serves every worker thread."""

    def __init__(self, db: Database, settings: Site) -> None:
        from tokentool.index.web.accounts import Sessions
        from tokentool.index.web.render import Templates

        self.db = db
        self.settings = settings
        self.sessions = Sessions(db)
        self.templates = Templates(COPY_SCRIPT, STYLE)

    @staticmethod
    def owns(path: str) -> bool:
        """A web route, or one with its trailing slash missing (pyramid's ``append_slash``)."""
        return match(path) is not None or (not path.endswith("/") and match(path + "/") is not None)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from webob import Request

        request = Request(environ)
        try:
            path = request.path_info.encode("latin-1").decode("utf-8")
        except UnicodeError:
            path = ""
        return self._answer(request, path)(environ, start_response)  # type: ignore[no-any-return]

    def _answer(self, request: Any, path: str) -> Any:
        from tokentool.index.web import views

        found = match(path)
        if found is None:
            if path and match(path + "/") is not None:  # append_slash=HTTPMovedPermanently
                qs = request.query_string
                return self._redirect(request, path + "/" + (f"?{qs}" if qs else ""), 301)
            return self.not_found(request)
        name, args, any_method = found
        if not any_method and request.method not in ("GET", "HEAD", "OPTIONS"):
            return self.error(request, 405, "Method Not Allowed", allow=SAFE_METHODS)
        if request.content_length and request.content_length > MAX_FORM_BYTES:
            return self.error(request, 413, "Request Entity Too Large")
        session = self.sessions.load(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not session.csrf_ok(
            request.POST.get("csrf_token") or request.headers.get("X-CSRF-Token")
        ):
            # pyramid's csrf_view: BadCSRFToken, before the view and its authority.
            return self.error(
                request,
                400,
                "Bad CSRF Token",
                explanation=views.BAD_CSRF_EXPLANATION,
            )
        context = views.Context(self, request, session)
        try:
            response = getattr(views, name)(context, *args)
        except views.NotFound:
            response = self.not_found(request, context)
        except Redirect as move:
            response = self._redirect(request, move.location, move.status)
        self.sessions.save(request, response, session)
        return response

    def token_used(self, authorization: str | None) -> None:
        """Record when the token of an accepted upload was used (the account page shows it)."""
        from tokentool.index import _auth
        from tokentool.index._upload import UploadError

        try:
            identity = _auth.authenticate(authorization, self.db.reader(), self.settings.url)
        except UploadError:  # the upload was accepted with it: not expected
            return
        with self.db.transaction() as tx:
            tx.token_used(identity.row.id)

    # -- answers -------------------------------------------------------------------
    def page(self, context: Any, template: str, status: int = 200, **values: Any) -> Any:
        from webob import Response

        body = self.templates.render(template, context=context, **values)
        response = Response(body=body.encode("utf-8"), status=status, charset="UTF-8")
        response.content_type = "text/html"
        response.headerlist.extend(SECURITY_HEADERS)
        return response

    def not_found(self, request: Any, context: Any = None) -> Any:
        from tokentool.index.web import views

        if context is None:
            context = views.Context(self, request, self.sessions.load(request))
        return self.page(context, "404.html", status=404)

    def _redirect(self, request: Any, location: str, status: int) -> Any:
        from webob import Response

        response = Response(status=status, location=location)
        response.headerlist.extend(SECURITY_HEADERS)
        return response

    def error(
        self,
        request: Any,
        status: int,
        title: str,
        *,
        explanation: str | None = None,
        allow: str | None = None,
    ) -> Any:
        """pyramid's own body for an HTTPException no warehouse template renders."""
        from webob import Response

        from tokentool.index._app import error_body

        content_type, body = error_body(
            status, title, request.headers.get("Accept"), explanation=explanation, detail=""
        )
        response = Response(body=body, status=f"{status} {title}")
        response.headers["Content-Type"] = content_type
        response.headerlist.extend(SECURITY_HEADERS)
        if allow:
            response.headers["Allow"] = allow
        return response
