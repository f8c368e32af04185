"""The WSGI application: the ``/legacy/`` upload route in front of pypiserver.

pypiserver (used as a library, fallback to the real PyPI disabled, its own
upload route unreachable) serves ``/simple/`` and ``/packages/`` from the
package folder the upload route writes into. Whatever goes wrong while judging
an upload becomes a 4xx: a stand-in that answers 500 would make twine retry and
a negative test pass for the wrong reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tokentool.index._db import Database
from tokentool.index._help import help_page
from tokentool.index._upload import Settings, UploadError, Uploads

log = logging.getLogger("tokentool.index")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_READ_METHODS = ("GET", "HEAD")


#: The longest reason phrase sent; longer ones are cut and end in "...".
MAX_REASON = 2000
_UNSENDABLE = {c: "?" for c in [*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)]}


def status_line(status: int, message: str) -> str:
    """The status line as warehouse's ``_exc_with_message`` sets it, made safe.

    Warehouse sends the message as it is, non-latin-1 characters replaced by
    "?" (``encode("iso-8859-1", "replace")``). Its messages quote user input
    (names, filenames, versions), so the stand-in adds the least it must: every
    control character except tab (C0, DEL, C1) becomes "?" as well, the same
    replacement, so no line break splits the header and no escape reaches a
    terminal; and past ``MAX_REASON`` characters the phrase is cut, so one
    header stays bounded. Spaces and tabs are left alone (RFC 9112 allows
    both in a reason phrase), unlike the old whitespace collapsing.
    """
    phrase = message.encode("latin-1", "replace").decode("latin-1").translate(_UNSENDABLE)
    if len(phrase) > MAX_REASON:
        phrase = phrase[: MAX_REASON - 3] + "..."
    return f"{status} {phrase}"


def _media_ranges(header: str) -> list[tuple[str, float, int]] | None:
    """(range, q, specificity) of an Accept header; None when it cannot be parsed."""
    ranges = []
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        media, *params = (p.strip() for p in item.split(";"))
        kind, slash, sub = media.partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            return None
        q = 1.0
        for param in params:
            key, eq, value = param.partition("=")
            if not eq:
                return None
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    return None
                if not 0 <= q <= 1:
                    return None
        specificity = 0 if kind == "*" else 1 if sub == "*" else 2
        ranges.append((media.lower(), q, specificity))
    return ranges


def negotiate(accept: str | None) -> str:
    """pyramid's ``HTTPException.prepare``: text/html or application/json, else text/plain.

    As webob reads it: no Accept header at all offers nothing (text/plain), an
    unparsable one everything (text/html first); otherwise each offer takes
    the q of its most specific range and the best q wins, html before json.
    """
    offers = ("text/html", "application/json")
    ranges = _media_ranges(accept or "")
    if ranges is None:
        return offers[0]
    scored = []
    for index, offer in enumerate(offers):
        kind = offer.split("/")[0]
        matches = [(spec, q) for media, q, spec in ranges if media in (offer, f"{kind}/*", "*/*")]
        if matches:
            q = max(matches)[1]
            if q > 0:
                scored.append((-q, index, offer))
    return sorted(scored)[0][2] if scored else "text/plain"


#: pyramid's explanations, the first line of its error bodies.
_EXPLANATIONS = {
    200: "",
    308: "The resource has been moved to",
    400: "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    409: "There was a conflict when trying to complete your request.",
    410: "This resource is no longer available.  No forwarding address is given.",
    413: "The request is larger than the server is willing or able to process.",
    429: "The action could not be performed because there were too many requests by the client.",
}


def error_body(
    status: int, message: str, accept: str | None, location: str = ""
) -> tuple[str, bytes]:
    """pyramid's body for an ``HTTPException`` whose status was set to ``status message``."""
    from html import escape

    from tokentool.index.rules import TITLES

    code = status_line(status, message)
    explanation = _EXPLANATIONS.get(status, "")
    kind = negotiate(accept)
    html = kind == "text/html"
    detail = escape(message, quote=True) if html else message
    br = "<br/>" if html else "\n"
    if status == 200:  # HTTPOk(): no detail
        detail = ""
    if status == 308:  # _HTTPMove's own template
        body = f"{explanation} {location}; you should be redirected automatically.\n{detail}\n"
    else:
        body = f"{explanation}{br}{br}\n{detail}\n\n"
    if kind == "application/json":
        payload = {"message": body, "code": code, "title": TITLES.get(status, "")}
        return "application/json", json.dumps(payload).encode()
    if html:
        page = (
            f"<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n"
            f"  <h1>{code}</h1>\n  {body}\n </body>\n</html>"
        )
        return "text/html; charset=UTF-8", page.encode("utf-8")
    return "text/plain; charset=UTF-8", f"{code}\n\n{body}".encode()


def _answer(
    start_response: StartResponse,
    status: int,
    message: str,
    headers: list[tuple[str, str]],
    environ: Mapping[str, Any] | None = None,
) -> list[bytes]:
    environ = environ or {}
    location = dict(headers).get("Location", "")
    content_type, body = error_body(status, message, environ.get("HTTP_ACCEPT"), location)
    if location.startswith("/"):  # webob makes a relative Location absolute
        headers = [(k, _absolute(environ, v) if k == "Location" else v) for k, v in headers]
    if environ.get("REQUEST_METHOD") == "HEAD":
        body = b""
    base = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(status_line(status, message), [*base, *headers])
    return [body]


def build_pypiserver(db: Database) -> WSGIApp:
    import pypiserver

    logging.getLogger("pypiserver").setLevel(logging.WARNING)
    app: WSGIApp = pypiserver.app(
        roots=[db.packages_dir.resolve()],
        authenticate=[],
        password_file=".",
        disable_fallback=True,
        fallback_url="http://127.0.0.1:9/",  # never used: fallback is disabled
        hash_algo="sha256",
        backend_arg="simple-dir",  # no cache: a renamed-in file is listed at once
        overwrite=False,
        cache_control=None,
    )
    return app


def _absolute(environ: Mapping[str, Any], path: str) -> str:
    host = environ.get("HTTP_HOST") or (
        f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    )
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{path}"


class IndexApp:
    def __init__(self, db: Database, settings: Settings, simple: WSGIApp) -> None:
        self.uploads = Uploads(db, settings)
        self.settings = settings
        self.simple = simple

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/legacy":
                # warehouse: missing_trailing_slash_redirect
                return _answer(
                    start_response,
                    308,
                    "An upload was attempted to /legacy but the expected upload URL is "
                    "/legacy/ (with a trailing slash)",
                    [("Location", "/legacy/")],
                    environ,
                )
            if path == "/legacy/":
                if method != "POST":
                    return _answer(
                        start_response, 405, "Method Not Allowed", [("Allow", "POST")], environ
                    )
                return self._upload(environ, start_response)
            if method not in _READ_METHODS:
                return _answer(
                    start_response, 405, "Method Not Allowed", [("Allow", "GET, HEAD")], environ
                )
            if path in ("/help", "/help/"):
                return _page(start_response, environ, help_page(self.settings.url))
            return self.simple(environ, start_response)
        except Exception as exc:
            # Never the exception text: it could quote the request (and so a token).
            log.warning("%s %s: refused after %s", method, path, type(exc).__name__)
            return _answer(start_response, 400, "Bad Request", [], environ)

    def _upload(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            self.uploads.handle(environ)
        except UploadError as exc:
            log.info("POST /legacy/ %d", exc.status)
            return _answer(start_response, exc.status, exc.message, [], environ)
        log.info("POST /legacy/ 200")
        return _answer(start_response, 200, "OK", [], environ)


def _page(start_response: StartResponse, environ: Mapping[str, Any], html: str) -> list[bytes]:
    body = html.encode("utf-8")
    headers = [("Content-Type", "text/html; charset=UTF-8"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
