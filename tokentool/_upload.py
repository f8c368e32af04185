"""Upload with twine in-process and say what the index answered.

In-process because a child process would need the token in its argv or
environment, and because a twine process costs more than the upload itself.
twine's own console output is captured, not shown: the tasks print one
concise account instead, and nothing twine might echo can reach the terminal.
The index's verdict travels in the HTTP reason phrase (``403 Invalid API
Token: ...``), so that is what is kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests
import twine.exceptions
from twine.commands.upload import upload as twine_upload
from twine.settings import Settings

from tokentool.token import Token

__all__ = ["Answer", "FileAnswer", "upload_files"]

_RESPONSE = re.compile(
    r"^Response from (?P<url>\S+):\n(?P<status>\d{3}) (?P<reason>.*)$", re.DOTALL
)


@dataclasses.dataclass(frozen=True)
class FileAnswer:
    filename: str
    status: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Answer:
    """What became of an upload.

    ``status`` is ``None`` when no HTTP answer came back at all (``error`` says
    why); ``files`` holds every per-file answer received, in order.
    """

    accepted: bool
    status: int | None
    reason: str
    files: tuple[FileAnswer, ...]
    error: str | None = None

    @property
    def summary(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        return f"{self.status} {self.reason}".rstrip()


class _Collector(logging.Handler):
    """Keeps twine's per-file ``Response from ...`` records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.answers: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _RESPONSE.match(record.getMessage())
        if match:
            self.answers.append((int(match["status"]), match["reason"]))


@contextlib.contextmanager
def _captured_twine() -> Iterator[_Collector]:
    logger = logging.getLogger("twine")
    collector = _Collector()
    saved = (logger.level, logger.propagate)
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield collector
    finally:
        logger.removeHandler(collector)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "…(redacted)") if secret else text


def _unreachable(exc: requests.RequestException, url: str) -> str:
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        why = "timed out"
    elif "Connection refused" in text:
        why = "connection refused"
    elif "NameResolution" in text or "Name or service not known" in text:
        why = "host name not found"
    elif isinstance(exc, requests.exceptions.SSLError):
        why = "TLS error"
    else:
        why = type(exc).__name__
    return f"index unreachable: could not connect to {url} ({why})"


def upload_files(files: Sequence[Path], token: Token, index_url: str) -> Answer:
    """Upload ``files`` in order; stop at the first refusal, as twine does."""
    password = token.dump()
    names = [Path(f).name for f in files]
    settings = Settings(
        username="__token__",
        password=password,
        repository_url=index_url,
        non_interactive=True,
        disable_progress_bar=True,
        config_file=os.devnull,
    )
    error: str | None = None
    failed: requests.Response | None = None
    with _captured_twine() as collector:
        try:
            twine_upload(settings, [str(f) for f in files])
        except requests.HTTPError as exc:
            failed = exc.response
        except requests.RequestException as exc:
            error = _unreachable(exc, index_url)
        except twine.exceptions.TwineException as exc:
            error = f"twine refused the upload: {_scrub(str(exc).splitlines()[0], password)}"
    answers = tuple(
        FileAnswer(name, status, reason)
        for name, (status, reason) in zip(names, collector.answers, strict=False)
    )
    if error is not None:
        return Answer(False, None, "", answers, error)
    if failed is not None:
        reason = _scrub(failed.reason or "", password)
        return Answer(False, failed.status_code, reason, answers)
    last = answers[-1] if answers else FileAnswer("", 200, "OK")
    return Answer(len(answers) == len(names), last.status, last.reason, answers)
