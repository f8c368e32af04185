"""Serve the stand-in with waitress in the foreground until SIGINT/SIGTERM.

The ``Serving on`` line is printed only after the socket is bound and listening,
so a parent that started ``--port 0`` can read the real port from it and
connect at once.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from tokentool.index._db import Database
from tokentool.index._upload import DEFAULT_MAX_UPLOAD, DEFAULT_NEW_PROJECT_LIMIT, MIB, Settings


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    domain: str = "localhost"
    max_upload_size: int = DEFAULT_MAX_UPLOAD
    new_project_limit: int = DEFAULT_NEW_PROJECT_LIMIT
    threads: int = 8
    prohibited_names: tuple[str, ...] = ()


def _channel_class() -> type:
    """waitress' channel with two fixes for malformed requests.

    An unknown Transfer-Encoding gets 400, not 501: any 5xx makes twine retry and
    reads as "the server broke", while it is the client's fault. And
    ``Expect: 100-continue`` on an empty body is ignored: waitress would send
    "100 Continue" and then wait for a body that never comes, until the idle
    timeout.
    """
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.utilities import BadRequest, ServerNotImplemented

    class Parser(HTTPRequestParser):  # type: ignore[misc]
        def received(self, data: bytes) -> int:
            consumed = int(super().received(data))
            if (
                self.expect_continue
                and self.headers_finished
                and not self.chunked
                and self.content_length == 0
            ):
                self.expect_continue = False
            if isinstance(self.error, ServerNotImplemented):
                self.error = BadRequest(self.error.body)
            return consumed

    class Channel(HTTPChannel):  # type: ignore[misc]
        parser_class = Parser

    return Channel


def _stop(_signum: int, _frame: FrameType | None) -> None:
    # waitress' loop turns SystemExit into an orderly shutdown of its threads.
    raise SystemExit(0)


def serve(options: ServeOptions) -> int:
    import waitress

    from tokentool.index._app import IndexApp, build_pypiserver

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    db = Database(options.data_dir)
    with db.transaction() as tx:
        tx.set_meta("domain", options.domain)
    settings = Settings(
        max_upload_size=options.max_upload_size,
        new_project_limit=options.new_project_limit,
        prohibited_names=frozenset(options.prohibited_names),
    )
    app = IndexApp(db, settings, build_pypiserver(db))
    server = waitress.create_server(
        app,
        host=options.host,
        port=options.port,
        threads=options.threads,
        # The body is buffered by waitress before a worker sees it, so slow clients
        # cost no worker; bodies far beyond the file limit are cut off with a 413.
        max_request_body_size=options.max_upload_size + 16 * MIB,
        channel_timeout=30,
        connection_limit=256,
        backlog=1024,
        expose_tracebacks=False,
        ident="tokentool-index",
    )
    server.channel_class = _channel_class()  # type: ignore[union-attr]
    host = server.effective_host  # type: ignore[union-attr]
    port = server.effective_port  # type: ignore[union-attr]
    shown = f"[{host}]" if ":" in str(host) else host
    settings.site = f"http://{shown}:{port}"
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"Serving on http://{shown}:{port}/", flush=True)
    try:
        server.run()
    finally:
        server.close()
        db.close()
    return 0
