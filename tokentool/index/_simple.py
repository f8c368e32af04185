"""Everything the stand-in serves to installers, rendered from its database alone.

* ``/simple/`` and ``/simple/<project>/``: PEP 503 HTML or PEP 691 JSON, chosen
  from ``Accept`` exactly as warehouse's ``api/simple.py`` chooses (webob's
  ``acceptable_offers``, HTML when nothing matches), API version 1.4 with the
  PEP 700 fields, sha256 from the row, ``data-requires-python`` and the PEP
  658/714 metadata attributes for wheels. An unnormalized project name is
  answered with a 301 to the normalized URL.
* ``/packages/<b2>/<b2>/<b2>/<filename>`` (warehouse's storage path): the file,
  only if a row records that name with that blake2 digest; ``<filename>.metadata``:
  the wheel's METADATA as extracted at upload.
* ``/pypi/<project>/json`` and ``/pypi/<project>/<version>/json``: warehouse's
  JSON API (``_jsonapi.py``).

Every lookup is by an indexed key (normalized project name, filename), so a
project page costs the same with ten projects or ten thousand; nothing lists
the folder and nothing is hashed when read. A file is sent with waitress'
``wsgi.file_wrapper``: the worker hands the open file to the event loop and is
free again, whatever the reader's speed.

Own rendering rather than ``simple-repository``'s serializers: those put the
filename and project name into the HTML unescaped, do not offer warehouse's
content negotiation (their parser raises on a malformed q-value), and would
bring httpx and aiosqlite into the server for about a hundred lines of
templates. The pages follow warehouse's templates; ``Accept`` is judged by
webob, the library warehouse itself uses for it.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tokentool.index._db import Database, ServedFile, Tx
from tokentool.index._jsonapi import file_url, json_body, json_data, upload_time
from tokentool.index._store import METADATA_SUFFIX

log = logging.getLogger("tokentool.index")

StartResponse = Callable[..., Any]

API_VERSION = "1.4"
MIME_TEXT_HTML = "text/html"
MIME_PYPI_SIMPLE_V1_HTML = "application/vnd.pypi.simple.v1+html"
MIME_PYPI_SIMPLE_V1_JSON = "application/vnd.pypi.simple.v1+json"
_OFFERS = [MIME_TEXT_HTML, MIME_PYPI_SIMPLE_V1_HTML, MIME_PYPI_SIMPLE_V1_JSON]
#: warehouse's utils/cors.py
_CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Allow-Headers",
        "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since",
    ),
    ("Access-Control-Allow-Methods", "GET"),
    ("Access-Control-Max-Age", "86400"),
    ("Access-Control-Expose-Headers", "X-PyPI-Last-Serial"),
]
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_FILE_PATH = re.compile(r"^/packages/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{60})/([^/]+)$")
_SEND_CHUNK = 256 * 1024


class NotFound(Exception):
    """Nothing is served at this path."""


def select_content_type(accept: str | None) -> str:
    """warehouse's ``_select_content_type``: the best acceptable offer, HTML by default."""
    from webob.acceptparse import create_accept_header

    offers = create_accept_header(accept).acceptable_offers(_OFFERS)
    return str(offers[0][0]) if offers else MIME_TEXT_HTML


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _path(environ: dict[str, Any]) -> str:
    """PATH_INFO as text: WSGI hands over the decoded bytes as latin-1."""
    raw = environ.get("PATH_INFO") or "/"
    try:
        return str(raw).encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise NotFound from None


def base_url(environ: dict[str, Any], site: str) -> str:
    """Where the client reached us, for the absolute URLs of the JSON API."""
    host = environ.get("HTTP_HOST", "")
    if host and _HOST.match(host):
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
    return site.rstrip("/")


class Reads:
    """The read-only routes; one instance serves every worker thread."""

    def __init__(self, db: Database, site: Callable[[], str]) -> None:
        self.db = db
        self.site = site

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = _path(environ)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        tx = self.db.reader()
        if path == "/simple":
            return _redirect(start_response, "/simple/")
        if path == "/simple/":
            return self._index(environ, start_response, tx, head)
        if path.startswith("/simple/"):
            name, slash, rest = path[len("/simple/") :].partition("/")
            if rest or not name:
                raise NotFound
            return self._detail(environ, start_response, tx, name, bool(slash), head)
        if path.startswith("/pypi/"):
            return self._json_api(environ, start_response, tx, path, head)
        match = _FILE_PATH.match(path)
        if match:
            return self._file(environ, start_response, tx, match, head)
        raise NotFound

    # -- /simple/ ----------------------------------------------------------------
    def _index(
        self, environ: dict[str, Any], start_response: StartResponse, tx: Tx, head: bool
    ) -> Iterable[bytes]:
        content_type = select_content_type(environ.get("HTTP_ACCEPT"))
        serial = tx.last_serial()
        names = tx.project_names()
        if content_type == MIME_PYPI_SIMPLE_V1_JSON:
            data = {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "projects": [{"name": name} for name, _normalized in names],
            }
            body = json.dumps(data) + "\n"
        else:
            links = "".join(
                f'    <a href="/simple/{quote(normalized)}/">{html.escape(name)}</a>\n'
                for name, normalized in names
            )
            body = (
                '<!DOCTYPE html>\n<html lang="en">\n  <head>\n'
                f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
                "    <title>Simple index</title>\n  </head>\n  <body>\n"
                f"{links}  </body>\n</html>\n"
            )
        return _send(start_response, content_type, body, serial, head)

    def _detail(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        tx: Tx,
        name: str,
        slash: bool,
        head: bool,
    ) -> Iterable[bytes]:
        normalized = canonicalize_name(name)
        project = tx.project(normalized)
        if project is None:
            raise NotFound
        if name != normalized or not slash:  # warehouse: HTTPMovedPermanently
            return _redirect(start_response, f"/simple/{quote(normalized)}/")
        content_type = select_content_type(environ.get("HTTP_ACCEPT"))
        files = sorted(
            tx.served_files(project.id), key=lambda f: (_sort_key(f.version), f.filename)
        )
        versions = sorted({f.version for f in files}, key=_sort_key)
        serial = max((f.id for f in files), default=0)
        if content_type == MIME_PYPI_SIMPLE_V1_JSON:
            data = {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "name": normalized,
                "project-status": {"status": "active"},
                "versions": versions,
                "files": [_file_json(f) for f in files],
            }
            body = json.dumps(data) + "\n"
        else:
            title = html.escape(normalized)
            links = "".join(_file_link(f) for f in files)
            body = (
                '<!DOCTYPE html>\n<html lang="en">\n  <head>\n'
                f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
                '    <meta name="pypi:project-status" content="active">\n'
                f"    <title>Links for {title}</title>\n  </head>\n  <body>\n"
                f"    <h1>Links for {title}</h1>\n{links}  </body>\n</html>\n"
                f"<!--SERIAL {serial}-->\n"
            )
        return _send(start_response, content_type, body, serial, head)

    # -- /pypi/<project>/json --------------------------------------------------------
    def _json_api(
        self, environ: dict[str, Any], start_response: StartResponse, tx: Tx, path: str, head: bool
    ) -> Iterable[bytes]:
        parts = path[len("/pypi/") :].split("/")
        if parts and parts[-1] == "":
            parts.pop()  # the routes with a trailing slash answer the same
        if len(parts) == 2 and parts[1] == "json":
            name, version = parts[0], None
        elif len(parts) == 3 and parts[2] == "json":
            name, version = parts[0], parts[1]
        else:
            raise NotFound
        normalized = canonicalize_name(name)
        project = tx.project(normalized)
        if project is None:
            raise NotFound
        data = json_data(tx, project, version, base_url(environ, self.site()))
        if data is None:
            raise NotFound
        if name != normalized:
            rest = "/".join(quote(p) for p in parts[1:])
            return _redirect(start_response, f"/pypi/{quote(normalized)}/{rest}")
        length, body = json_body(tx, data, project.id)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(length)),
            ("Vary", "Accept"),
            ("X-PyPI-Last-Serial", str(data["last_serial"])),
            *_CORS_HEADERS,
        ]
        start_response("200 OK", headers)
        return [b""] if head else body

    # -- files -----------------------------------------------------------------------
    def _file(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        tx: Tx,
        match: re.Match[str],
        head: bool,
    ) -> Iterable[bytes]:
        b2 = "".join(match.group(1, 2, 3))
        filename = match.group(4)
        wants_metadata = False
        found = tx.served_file(filename)
        if found is None and filename.endswith(".metadata"):
            filename = filename[: -len(".metadata")]
            wants_metadata = True
            found = tx.served_file(filename)
        if found is None or found[0].blake2_256_digest != b2:
            raise NotFound
        row = found[0]
        if wants_metadata:
            if not row.metadata_sha256:
                raise NotFound
            # PEP 658: the metadata file beside the wheel, streamed as the wheel is.
            return self._send_file(
                environ, start_response, row.filename + METADATA_SUFFIX, None, head
            )
        return self._send_file(environ, start_response, row.filename, row, head)

    def _send_file(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        name: str,
        row: ServedFile | None,
        head: bool,
    ) -> Iterable[bytes]:
        """A stored file, streamed; ``row`` (a package) checks its size and gives the ETag."""
        # Closed by the file wrapper once sent, or below.
        opened = self.db.storage.open(name, None if row is None else row.size)
        if opened is None:
            raise NotFound
        stream, size = opened
        if row is None:
            headers = [("Content-Type", "text/plain; charset=utf-8")]
        else:
            headers = [
                ("Content-Type", "application/octet-stream"),
                ("ETag", f'"{row.sha256_digest}"'),
            ]
        headers.insert(1, ("Content-Length", str(size)))
        start_response("200 OK", headers)
        if head:
            stream.close()
            return [b""]
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(stream, _SEND_CHUNK)  # type: ignore[no-any-return]
        return _chunks(stream)


def _chunks(stream: Any) -> Iterable[bytes]:
    with stream:
        while chunk := stream.read(_SEND_CHUNK):
            yield chunk


def _file_json(f: ServedFile) -> dict[str, Any]:
    """One file of warehouse's ``_simple_detail``."""
    metadata: dict[str, str] | bool = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
    return {
        "filename": f.filename,
        "url": file_url("", f),
        "hashes": {"sha256": f.sha256_digest},
        "requires-python": f.requires_python or None,
        "size": f.size,
        "upload-time": upload_time(f.uploaded).isoformat() + "Z",
        # _simple_detail: the reason if there is one, else whether it is yanked
        "yanked": f.yanked_reason if f.yanked and f.yanked_reason else f.yanked,
        "data-dist-info-metadata": metadata,
        "core-metadata": metadata,
        "provenance": None,
    }


def _file_link(f: ServedFile) -> str:
    """One line of warehouse's detail.html, every attribute and the text escaped."""
    href = html.escape(f"{file_url('', f)}#sha256={f.sha256_digest}")
    attributes = [f'href="{href}"']
    if f.requires_python:
        attributes.append(f'data-requires-python="{html.escape(f.requires_python)}"')
    if f.yanked:  # PEP 592, as detail.html writes it
        attributes.append(f'data-yanked="{html.escape(f.yanked_reason or "")}"')
    if f.metadata_sha256:
        value = f"sha256={f.metadata_sha256}"
        attributes.append(f'data-dist-info-metadata="{value}" data-core-metadata="{value}"')
    return f"    <a {' '.join(attributes)}>{html.escape(f.filename)}</a><br />\n"


def _send(
    start_response: StartResponse, content_type: str, body: str, serial: int, head: bool
) -> list[bytes]:
    data = body.encode("utf-8")
    shown = content_type if "json" in content_type else f"{content_type}; charset=utf-8"
    headers = [
        ("Content-Type", shown),
        ("Content-Length", str(len(data))),
        ("Vary", "Accept"),
        ("X-PyPI-Last-Serial", str(serial)),
        *_CORS_HEADERS,
    ]
    start_response("200 OK", headers)
    return [b""] if head else [data]


def _redirect(start_response: StartResponse, location: str) -> list[bytes]:
    start_response(
        "301 Moved Permanently",
        [("Location", location), ("Content-Length", "0"), *_CORS_HEADERS],
    )
    return [b""]
