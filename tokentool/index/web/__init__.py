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

from collections.abc import Callable, Iterable
from typing import Any

from tokentool.index._db import Database
from tokentool.index.rules import Site
from tokentool.index.web._base import (
    COPY_SCRIPT,
    MAX_FORM_BYTES,
    SAFE_METHODS,
    SECURITY_HEADERS,
    STYLE,
    NotFound,
    Redirect,
    match,
)

__all__ = ["WebFace"]

StartResponse = Callable[..., Any]
#: ``_app.error_body``'s shape: (status, title, Accept, explanation=, detail=) -> (type, body)
ErrorBody = Callable[..., tuple[str, bytes]]


class WebFace:
    """The web routes; one instance serves every worker thread."""

    def __init__(self, db: Database, settings: Site, error_body: ErrorBody) -> None:
        """``error_body`` renders pyramid's own error pages (``_app.error_body``: one
        definition, handed in so the web face does not import the app that routes to it)."""
        from tokentool.index.web.accounts import Sessions
        from tokentool.index.web.render import Templates

        self.db = db
        self.settings = settings
        self.error_body = error_body
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
        except NotFound:
            response = self.not_found(request, context)
        except Redirect as move:
            response = self._redirect(request, move.location, move.status)
        self.sessions.save(request, response, session)
        return response

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

        content_type, body = self.error_body(
            status, title, request.headers.get("Accept"), explanation=explanation, detail=""
        )
        response = Response(body=body, status=f"{status} {title}")
        response.headers["Content-Type"] = content_type
        response.headerlist.extend(SECURITY_HEADERS)
        if allow:
            response.headers["Allow"] = allow
        return response
