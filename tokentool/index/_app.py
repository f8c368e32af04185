"""The WSGI application: ``/legacy/`` (uploads) and the read routes of ``_simple.py``.

Everything read is rendered from the database (``_simple.py``), never from the
package folder. Whatever goes wrong while judging an upload becomes a 4xx: a
stand-in that answers 500 would make twine retry and a negative test pass for
the wrong reason. A failure on the server's side (disk full, a name the
filesystem refuses, a database error) is the exception: it answers 5xx with a
reason saying what happened, and is logged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from tokentool.index._db import Database
from tokentool.index._simple import NotFound, Reads
from tokentool.index._store import ServerFault, server_fault
from tokentool.index._upload import Settings, UploadError, Uploads

log = logging.getLogger("tokentool.index")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_READ_METHODS = ("GET", "HEAD")


def status_line(status: int, message: str) -> str:
    """A reason phrase the HTTP layer can carry: one line, latin-1."""
    phrase = " ".join(message.split())
    phrase = phrase.encode("latin-1", "replace").decode("latin-1")
    return f"{status} {phrase}"


def _answer(
    start_response: StartResponse, status: int, message: str, headers: list[tuple[str, str]]
) -> list[bytes]:
    body = b"" if status == 200 else (message.encode("utf-8", "replace") + b"\n")
    base = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(status_line(status, message), [*base, *headers])
    return [body]


def _fault(
    start_response: StartResponse, method: str, path: str, fault: ServerFault
) -> list[bytes]:
    log.error("%s %s %d: %s", method, path, fault.status, fault.message)
    return _answer(start_response, fault.status, fault.message, [])


class IndexApp:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.uploads = Uploads(db, settings)
        self.reads = Reads(db, lambda: settings.site)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/legacy":
                return _answer(
                    start_response, 308, "Permanent Redirect", [("Location", "/legacy/")]
                )
            if path == "/legacy/":
                if method != "POST":
                    return _answer(start_response, 405, "Method Not Allowed", [("Allow", "POST")])
                return self._upload(environ, start_response)
            if method not in _READ_METHODS:
                return _answer(start_response, 405, "Method Not Allowed", [("Allow", "GET, HEAD")])
            return self.reads(environ, start_response)
        except NotFound:
            return _answer(start_response, 404, "Not Found", [])
        except (OSError, sqlite3.Error) as exc:
            return _fault(start_response, method, path, server_fault(exc))
        except Exception as exc:
            # Never the exception text: it could quote the request (and so a token).
            log.warning("%s %s: refused after %s", method, path, type(exc).__name__)
            return _answer(start_response, 400, "Bad Request", [])

    def _upload(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            self.uploads.handle(environ)
        except ServerFault as fault:
            return _fault(start_response, "POST", "/legacy/", fault)
        except (OSError, sqlite3.Error) as exc:
            return _fault(start_response, "POST", "/legacy/", server_fault(exc))
        except UploadError as exc:
            log.info("POST /legacy/ %d", exc.status)
            return _answer(start_response, exc.status, exc.message, [])
        log.info("POST /legacy/ 200")
        return _answer(start_response, 200, "OK", [])
