"""In-process uploads through the stand-in's WSGI app: fast, no sockets.

``Harness.post`` builds the multipart body a client sends and returns
(status, reason, headers, body) as the server would put them on the wire.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
from pathlib import Path
from typing import Any

from urllib3 import encode_multipart_formdata

from tokentool.index import Index
from tokentool.index._app import IndexApp
from tokentool.index._db import Database
from tokentool.index.rules import Site

SITE = "http://testserver"


@dataclasses.dataclass
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class Harness:
    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        self.site = Site(url=SITE, **settings)
        self.db = Database(data_dir)
        self.app = IndexApp(self.db, self.site)

    def index(self) -> Index:
        return Index(self.data_dir)

    def mint(self, user: str, project: str | None = None) -> str:
        index = self.index()
        try:
            return index.mint(user, project)
        finally:
            index.close()

    def post(
        self,
        fields: list[tuple[str, str]] | dict[str, str],
        file: tuple[str, bytes, str] | None,
        token: str | None,
        *,
        accept: str | None = None,
        path: str = "/legacy/",
        edit: Any = None,
    ) -> Answer:
        """``edit``: bytes -> bytes, applied to the encoded body (what urllib3 cannot send)."""
        items: list[tuple[str, Any]] = list(fields.items() if isinstance(fields, dict) else fields)
        if file is not None:
            items.append(("content", file))
        body, content_type = encode_multipart_formdata(items)
        if edit is not None:
            body = edit(body)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
        }
        if token is not None:
            import base64

            basic = base64.b64encode(f"__token__:{token}".encode()).decode()
            environ["HTTP_AUTHORIZATION"] = f"Basic {basic}"
        if accept is not None:
            environ["HTTP_ACCEPT"] = accept
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = status, dict(headers)

        out = b"".join(self.app(environ, start_response))
        code, _, reason = seen["status"].partition(" ")
        return Answer(int(code), reason, seen["headers"], out)

    def close(self) -> None:
        self.db.close()


def upload_fields(
    name: str,
    version: str,
    data: bytes,
    filetype: str = "bdist_wheel",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.4",
        "name": name,
        "version": version,
        "filetype": filetype,
        "pyversion": "py3" if filetype == "bdist_wheel" else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    fields.update(extra or {})
    return {k: v for k, v in fields.items() if v is not None}
