"""The WSGI application: the ``/legacy/`` upload route in front of pypiserver.

pypiserver (used as a library, fallback to the real PyPI disabled, its own
upload route unreachable) serves ``/simple/`` and ``/packages/`` from the
package folder the upload route writes into. Whatever goes wrong while judging
an upload becomes a 4xx: a stand-in that answers 500 would make twine retry and
a negative test pass for the wrong reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from tokentool.index._db import Database
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


class IndexApp:
    def __init__(self, db: Database, settings: Settings, simple: WSGIApp) -> None:
        self.uploads = Uploads(db, settings)
        self.simple = simple

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
            return self.simple(environ, start_response)
        except Exception as exc:
            # Never the exception text: it could quote the request (and so a token).
            log.warning("%s %s: refused after %s", method, path, type(exc).__name__)
            return _answer(start_response, 400, "Bad Request", [])

    def _upload(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            self.uploads.handle(environ)
        except UploadError as exc:
            log.info("POST /legacy/ %d", exc.status)
            return _answer(start_response, exc.status, exc.message, [])
        log.info("POST /legacy/ 200")
        return _answer(start_response, 200, "OK", [])
