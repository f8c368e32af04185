"""The WSGI application: ``/legacy/`` (uploads) and the read routes of ``_simple.py``.

Everything read is rendered from the database (``_simple.py``), never from the
package folder. Whatever goes wrong while judging an upload becomes a 4xx: a
stand-in that answers 500 would make twine retry and a negative test pass for
the wrong reason. A failure on the server's side (disk full, a name the
filesystem refuses, a database error) is the exception: it answers 5xx with a
reason saying what happened, and is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from tokentool.index._db import Database
from tokentool.index._help import help_page
from tokentool.index._simple import NotFound, Reads
from tokentool.index._store import ServerFault, server_fault
from tokentool.index._upload import UploadError, Uploads
from tokentool.index.rules import Site
from tokentool.index.rules._workers import OutlivedWorker
from tokentool.index.web import WebFace

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


def negotiate(accept: str | None) -> str:
    """pyramid's ``HTTPException.prepare``: text/html or application/json, else text/plain.

    The same webob call pyramid makes: an absent header reads as "" and offers
    nothing (text/plain); an unparsable one offers everything (text/html first).
    """
    from webob.acceptparse import create_accept_header

    offers = create_accept_header(accept or "").acceptable_offers(["text/html", "application/json"])
    return str(offers[0][0]) if offers else "text/plain"


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
    500: "The server has either erred or is incapable of performing the requested operation.",
    507: "There was not enough space to save the resource",
}


def error_body(
    status: int,
    message: str,
    accept: str | None,
    location: str = "",
    *,
    explanation: str | None = None,
    detail: str | None = None,
) -> tuple[str, bytes]:
    """pyramid's body for an ``HTTPException`` whose status was set to ``status message``.

    ``explanation`` and ``detail`` are a subclass's own (the web face's
    ``BadCSRFToken``: its explanation, no detail); by default the status code's
    and the message.
    """
    from html import escape

    from tokentool.index.rules import TITLES

    code = status_line(status, message)
    if explanation is None:
        explanation = _EXPLANATIONS.get(status, "")
    kind = negotiate(accept)
    html = kind == "text/html"
    detail = message if detail is None else detail
    detail = escape(detail, quote=True) if html else detail
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


def _fault(
    start_response: StartResponse, environ: Mapping[str, Any], fault: ServerFault
) -> list[bytes]:
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO") or "/"
    log.error("%s %s %d: %s", method, path, fault.status, fault.message)
    return _answer(start_response, fault.status, fault.message, [], environ)


def _absolute(environ: Mapping[str, Any], path: str) -> str:
    host = environ.get("HTTP_HOST") or (
        f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    )
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{path}"


class IndexApp:
    def __init__(self, db: Database, settings: Site) -> None:
        self.uploads = Uploads(db, settings)
        self.settings = settings
        self.reads = Reads(db, lambda: settings.url)
        # the pages a person visits (tokentool/index/web)
        self.web = WebFace(db, settings, error_body)

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
            if self.web.owns(path):
                return self.web(environ, start_response)
            if method not in _READ_METHODS:
                return _answer(
                    start_response, 405, "Method Not Allowed", [("Allow", "GET, HEAD")], environ
                )
            if path in ("/help", "/help/"):
                return _page(start_response, environ, help_page(self.settings.url))
            return self.reads(environ, start_response)
        except NotFound:
            return _answer(start_response, 404, "Not Found", [], environ)
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            return _fault(start_response, environ, server_fault(exc))
        except Exception as exc:
            # Never the exception text: it could quote the request (and so a token).
            log.warning("%s %s: refused after %s", method, path, type(exc).__name__)
            return _answer(start_response, 400, "Bad Request", [], environ)

    def _upload(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            self.uploads.handle(environ)
        except ServerFault as fault:
            return _fault(start_response, environ, fault)
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            return _fault(start_response, environ, server_fault(exc))
        except OutlivedWorker as exc:
            # warehouse: gunicorn kills an upload worker past ``timeout = 240``
            # (gunicorn-uploads.conf.py) and the proxy in front answers 502.
            log.error(
                "POST /legacy/ 502: %s; answered as warehouse's front end answers a request "
                "whose worker is killed (gunicorn-uploads.conf.py timeout = 240)",
                exc,
            )
            return _bad_gateway(start_response, environ)
        except UploadError as exc:
            (log.error if exc.status >= 500 else log.info)("POST /legacy/ %d", exc.status)
            return _answer(start_response, exc.status, exc.message, [], environ)
        log.info("POST /legacy/ 200")
        return _answer(start_response, 200, "OK", [], environ)


def _bad_gateway(start_response: StartResponse, environ: Mapping[str, Any]) -> list[bytes]:
    """The proxy's page, not pyramid's: the application never answered."""
    body = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    headers = [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
    start_response("502 Bad Gateway", headers)
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def _page(start_response: StartResponse, environ: Mapping[str, Any], html: str) -> list[bytes]:
    body = html.encode("utf-8")
    headers = [("Content-Type", "text/html; charset=UTF-8"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
