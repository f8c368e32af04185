"""The expensive third-party validators, run off the server's GIL with a budget.

readme_renderer (docutils, comrak, nh3) and email-validator can be made to
spend minutes of CPU on one crafted field (comrak is quadratic on nested
``<div>`` lines and holds the GIL; email-validator re-normalizes the rest of
the address at every character). Each call runs in a child process of a
forkserver that preloaded them, at most ``Site.validator_workers`` at a time,
under ``RLIMIT_CPU`` and ``RLIMIT_AS`` (set in the child with
``resource.setrlimit``) and a wall-clock deadline. The server's own threads
only wait on a pipe, so other clients keep being served.

A call that outlives its budget raises ``OutlivedWorker``: the answer is the
one warehouse's front end gives a request whose worker is killed. Warehouse
serves uploads with ``gunicorn-uploads.conf.py``: sync workers, ``timeout =
240``; gunicorn aborts a worker silent for that long and the proxy in front
of it answers ``502 Bad Gateway`` (``_app.py`` sends that and logs why). The
default budget is therefore 240 s, wall clock and CPU; the memory budget is
the stand-in's own (warehouse's workers have no per-request limit; one that
runs out of memory dies the same way).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import resource
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("tokentool.index")

#: Modules the forkserver imports once, so each worker starts with them loaded.
_PRELOAD = [
    "email_validator",
    "tokentool.index.rules._readme",
    "tokentool.index.rules._workers",
]


class OutlivedWorker(Exception):
    """The validation went past its budget: warehouse's worker would be killed."""

    def __init__(self, job: str, why: str) -> None:
        super().__init__(f"{job}: {why}")
        self.job = job
        self.why = why


@dataclasses.dataclass(frozen=True)
class Budget:
    """What one validation may cost (``Site.validator_*``)."""

    workers: int = 2
    #: gunicorn-uploads.conf.py ``timeout = 240``: wall clock, and CPU in the child.
    seconds: float = 240.0
    #: Address space the child may add to what it starts with.
    memory: int = 160 * 1024 * 1024


DEFAULT_BUDGET = Budget()
_BUDGET: contextvars.ContextVar[Budget] = contextvars.ContextVar("budget", default=DEFAULT_BUDGET)
_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()
_CONTEXT: Any = None


@contextlib.contextmanager
def budget(value: Budget) -> Iterator[None]:
    """The budget of the validations made in this thread (one upload) meanwhile."""
    token = _BUDGET.set(value)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _slots(workers: int) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        if workers not in _SLOTS:
            _SLOTS[workers] = threading.BoundedSemaphore(max(1, workers))
        return _SLOTS[workers]


def _context() -> Any:
    global _CONTEXT
    with _SLOTS_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            _CONTEXT = ctx
        return _CONTEXT


def run(job: str, payload: Any, size: int = 0) -> Any:
    """``JOBS[job](payload)`` in a worker process, within this thread's budget.

    ``size``: the payload's bytes in memory (``sys.getsizeof``). A worker holds it
    at least three times (the bytes it receives, the text they make, the result
    made from the text), so past a third of the memory budget it is known to die:
    that answer comes at once, without copying the payload to a worker."""
    limits = _BUDGET.get()
    if 3 * size > limits.memory:
        raise OutlivedWorker(job, f"{size} bytes of input cannot fit the memory budget")
    ctx = _context()
    slots = _slots(limits.workers)
    if not slots.acquire(timeout=limits.seconds):  # the wait counts against the budget too
        raise OutlivedWorker(job, f"no worker free within {limits.seconds:g} s")
    try:
        return _run_in_worker(ctx, job, payload, limits)
    finally:
        slots.release()


def _run_in_worker(ctx: Any, job: str, payload: Any, limits: Budget) -> Any:
    """One worker process for one call; killed if still alive when it is over."""
    receiver, sender = ctx.Pipe(duplex=False)
    inbox, outbox = ctx.Pipe(duplex=False)
    worker = ctx.Process(
        target=_work, args=(job, inbox, sender, limits), name=f"tokentool-{job}", daemon=True
    )
    worker.start()
    sender.close()
    inbox.close()
    try:
        try:
            outbox.send(payload)
        except OSError:  # the worker died before reading it all
            pass
        outbox.close()
        if not receiver.poll(limits.seconds):
            raise OutlivedWorker(job, f"still running after {limits.seconds:g} s")
        try:
            kind, value = receiver.recv()
        except EOFError:  # killed: SIGXCPU past RLIMIT_CPU, or out of memory
            worker.join(5)
            raise OutlivedWorker(job, f"worker ended ({_ended(worker.exitcode)})") from None
        if kind == "memory":
            raise OutlivedWorker(job, "worker ran out of memory")
        return value
    finally:
        receiver.close()
        if worker.is_alive():
            worker.kill()
        worker.join(5)


def _ended(code: int | None) -> str:
    import signal

    if code is not None and code < 0:
        return signal.Signals(-code).name
    return f"exit status {code}"


def _work(job: str, inbox: Any, outbox: Any, limits: Budget) -> None:
    """In the child: set the limits, read the payload, answer ``(kind, value)``."""
    seconds = max(1, int(limits.seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + limits.memory, size + limits.memory))
    try:
        payload = inbox.recv()
        inbox.close()
        outbox.send(("ok", JOBS[job](payload)))
    except MemoryError:
        outbox.send(("memory", None))


# -- the jobs ------------------------------------------------------------------------
def _render(payload: tuple[str, str | None]) -> bool:
    """warehouse.utils.readme.render: does it give a result (True) or None."""
    from tokentool.index.rules._readme import render

    value, content_type = payload
    return render(value, content_type) is not None


def _html(payload: tuple[str, str | None]) -> str | None:
    """``Description.html`` for the release page (``use_fallback=True``)."""
    from tokentool.index.rules._readme import render

    value, content_type = payload
    return render(value, content_type, use_fallback=True)


def _emails(addresses: list[str]) -> list[str | None]:
    """email_validator's words for each address (None: valid)."""
    import email_validator

    answers: list[str | None] = []
    for address in addresses:
        try:
            email_validator.validate_email(address, check_deliverability=False)
        except email_validator.EmailNotValidError as exc:
            answers.append(str(exc))
        else:
            answers.append(None)
    return answers


JOBS = {"render": _render, "html": _html, "emails": _emails}
