"""Serve the stand-in with waitress in the foreground until SIGINT/SIGTERM.

The ``Serving on`` line is printed only after the socket is bound and listening,
so a parent that started ``--port 0`` can read the real port from it and
connect at once.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

from tokentool.exceptions import ConfigError
from tokentool.index._db import Database
from tokentool.index.rules import Site
from tokentool.index.settings import MIB, ServeSettings

log = logging.getLogger("tokentool.index")


def _channel_class() -> type:
    """waitress' channel with fixes for malformed requests, full disks and slow readers.

    An unknown Transfer-Encoding gets 400, not 501: any 5xx makes twine retry and
    reads as "the server broke", while it is the client's fault. A write failure
    while waitress spools a large body (disk full) is the server's fault: 5xx with
    the reason, instead of a reset connection. And
    ``Expect: 100-continue`` on an empty body is ignored: waitress would send
    "100 Continue" and then wait for a body that never comes, until the idle
    timeout.
    """
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.utilities import BadRequest, Error, ServerNotImplemented

    class StorageFull(Error):  # type: ignore[misc]
        code = 507
        reason = "Insufficient Storage"

    class Parser(HTTPRequestParser):  # type: ignore[misc]
        def received(self, data: bytes) -> int:
            try:
                consumed = int(super().received(data))
            except OSError as exc:
                # waitress spools large bodies to a temporary file: a full disk there
                # is the server's failure, answered 5xx, not a dropped connection.
                from tokentool.index._store import server_fault

                fault = server_fault(exc)
                log.error("receiving a request body: %s", fault.message)
                self.error = (
                    StorageFull(fault.message) if fault.status == 507 else Error(fault.message)
                )
                self.completed = True
                return len(data)
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

        def _flush_outbufs_below_high_watermark(self) -> None:
            """Never park a worker until a slow reader has read its previous responses.

            waitress waits here (in a worker) when a client pipelines a request behind
            a response it has not read yet: twelve non-reading clients pipelining two
            downloads each held every worker. Instead, the requests queued behind are
            dropped and the connection closes once what was answered is sent; the
            client reconnects for the rest (HTTP lets a server close after any response).
            """
            if self.total_outbufs_len <= self.adj.outbuf_high_watermark:
                return
            # Never block on requests_lock: waitress takes it before outbuf_lock
            # elsewhere, and write_soon calls this holding outbuf_lock.
            if not self.requests_lock.acquire(blocking=False):
                super()._flush_outbufs_below_high_watermark()
                return
            try:
                self.close_when_flushed = True
                for request in self.requests[1:]:
                    request.close()
                del self.requests[1:]
            finally:
                self.requests_lock.release()

    return Channel


def make_undumpable() -> None:
    """No core file and no ptrace/proc access by others: the process holds every root key.

    RLIMIT_CORE 0 everywhere; on Linux also ``prctl(PR_SET_DUMPABLE, 0)``, which
    also makes ``/proc/<pid>/mem`` and ``environ`` unreadable to same-user processes.
    """
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_dumpable = 4
        if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _connection_limit(threads: int) -> int:
    """As many connections as file descriptors allow (up to 4096), raising the soft limit.

    Idle and slow connections cost a descriptor and a little memory each, never
    a worker; the limit must be far above what a slowloris client can open
    cheaply, or the listener stops accepting and everyone is locked out.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    budget = wanted if soft == resource.RLIM_INFINITY else soft
    return max(64, min(4096, budget - 64 - 4 * threads))


class _Stop:
    """The SIGINT/SIGTERM handler; remembers which signal stopped the server, to say so."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum).name
        # waitress' loop turns SystemExit into an orderly shutdown of its threads.
        raise SystemExit(0)


def _listen_error(exc: OSError, host: str, port: int) -> ConfigError:
    """One sentence naming the address, instead of a bare ``Address already in use``."""
    import errno

    shown = f"[{host}]" if ":" in host else host
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        hint = (
            " (another server listens there: stop it, or give --port N; --port 0 picks a free one)"
        )
    elif exc.errno == errno.EACCES:
        hint = " (ports below 1024 need privileges: give --port 8080, or --port 0 for a free one)"
    reason = exc.strerror or type(exc).__name__
    return ConfigError(f"cannot listen on {shown}:{port}: {reason}{hint}")


def serve(options: ServeSettings) -> int:
    import waitress

    from tokentool.index._app import IndexApp
    from tokentool.index._store import reconcile

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    make_undumpable()
    db = Database(options.data_dir, options.database, pool_size=options.threads + 2)
    reconcile(db)  # before the first request: nothing unrecorded is left in the folder
    with db.transaction() as tx:
        tx.set_meta("domain", options.domain)
    settings = Site.of(options)
    app = IndexApp(db, settings)
    try:
        server = _create_server(waitress, app, options)
    except OSError as exc:
        db.close()
        raise _listen_error(exc, options.host, options.port) from None
    server.channel_class = _channel_class()  # type: ignore[union-attr]
    host = server.effective_host  # type: ignore[union-attr]
    port = server.effective_port  # type: ignore[union-attr]
    shown = f"[{host}]" if ":" in str(host) else host
    settings.url = f"http://{shown}:{port}"
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # Inside the try: a signal arriving while these print still says it stopped.
        print(f"Serving on http://{shown}:{port}/", flush=True)
        # For a person at the terminal (stderr: a parent reads only the line above).
        where = f"--database {db.url}" if options.database else f"--data-dir {options.data_dir}"
        print(
            f"upload URL: http://{shown}:{port}/legacy/ (REPOSITORY_URL in .env)\n"
            f"mint a token: tokentool index mint --user NAME {where}\n"
            f"web pages: http://{shown}:{port}/ (to log in: tokentool index passwd NAME {where})",
            file=sys.stderr,
            flush=True,
        )
        server.run()
    finally:
        server.close()
        db.close()
        why = f" (on {stop.signal})" if stop.signal else ""
        print(
            f"stopped{why}: http://{shown}:{port}/ no longer answers; "
            f"the data stays in {db.url if options.database else options.data_dir}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def _create_server(waitress: Any, app: Any, options: ServeSettings) -> Any:
    return waitress.create_server(
        app,
        host=options.host,
        port=options.port,
        threads=options.threads,
        # The body is buffered by waitress before a worker sees it, so slow clients
        # cost no worker; bodies far beyond the file limit are cut off with a 413.
        # Files leave through wsgi.file_wrapper, so a slow reader costs no worker
        # either. Idle connections are closed after channel_timeout; poll() instead
        # of select() because select() cannot watch more than 1024 descriptors.
        max_request_body_size=options.max_upload_size + 16 * MIB,
        channel_timeout=30,
        cleanup_interval=10,
        connection_limit=_connection_limit(options.threads),
        asyncore_use_poll=True,
        backlog=1024,
        expose_tracebacks=False,
        ident="tokentool-index",
    )
