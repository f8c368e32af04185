"""Upload with twine's own ``Repository`` in-process, file by file, answers from its responses.

In-process because a child process would need the token in its argv or
environment, and because a twine process costs more than the upload itself.
Driving ``twine.repository.Repository`` (what ``twine upload`` drives) gives
each file's ``requests.Response``: the status and reason phrase (where the
index puts its verdict, ``403 Invalid API Token: ...``) are read from it, not
from twine's log text, so every answer is paired with the file it answers.
Files go wheel first, as ``twine upload`` sends them, and the upload stops at
the first refusal, as twine does. Everything the index says goes through
``_safety.clean`` before it is kept: cleared of any echo of the token (raw,
disguised or encoded), bounded and escaped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

from tokentool._safety import clean, escape
from tokentool.exceptions import ConfigError
from tokentool.probe import CONNECT_TIMEOUT, READ_TIMEOUT, connection_problem
from tokentool.token import Token

__all__ = ["Answer", "FileAnswer", "Timeouts", "upload_files"]

#: A reason phrase longer than this is cut: it is one line of an HTTP status.
_MAX_REASON = 1000
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection, and for each read of the answer.

    The defaults are ``tokentool.probe``'s, the one pair every command uses.
    """

    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"--{name}-timeout must be a positive number of seconds")


@dataclasses.dataclass(frozen=True)
class FileAnswer:
    filename: str
    status: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Answer:
    """What became of an upload.

    ``status`` is ``None`` when no HTTP answer came back at all (``error`` says
    why); ``files`` holds every per-file answer received, in order, each named
    by the file it answers.
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


class _Session(requests.Session):
    """twine's session, with timeouts on every request and no silent connect retries."""

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__()
        self._timeout = (timeouts.connect, timeouts.read)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


@contextlib.contextmanager
def _quiet_twine() -> Iterator[None]:
    """twine prints ``Uploading X`` and logs retries: the caller reports instead."""
    logger = logging.getLogger("twine")
    saved = (logger.level, logger.propagate, logger.handlers[:])
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        logger.level, logger.propagate, logger.handlers = saved


def _unreachable(exc: requests.RequestException, url: str, timeouts: Timeouts) -> str:
    return connection_problem(exc, url, (timeouts.connect, timeouts.read))


def wheel_first(files: Sequence[Path]) -> list[Path]:
    """The order ``twine upload`` sends files in (``_group_wheel_files_first``)."""
    return sorted(files, key=lambda f: 0 if str(f).endswith(".whl") else 1)


def upload_files(
    files: Sequence[Path],
    token: Token,
    index_url: str,
    *,
    timeouts: Timeouts | None = None,
    progress: Progress | None = None,
    secrets: Sequence[str] = (),
) -> Answer:
    """Upload ``files`` wheel first; stop at the first refusal, as twine does.

    ``secrets`` are other strings (the user-wide token) no answer may repeat.
    """
    from twine.exceptions import TwineException
    from twine.package import PackageFile
    from twine.repository import Repository

    timeouts = timeouts or Timeouts()
    say = progress or (lambda _line: None)
    password = token.dump()
    hidden = (password, *secrets)
    answers: list[FileAnswer] = []
    # twine's chatter is silenced only around its own calls: ``say`` must reach the user.
    with _quiet_twine():
        repository = Repository(index_url, "__token__", password, disable_progress_bar=True)
    session = _Session(timeouts)
    session.headers.update(repository.session.headers)
    session.auth = repository.session.auth
    repository.session.close()
    repository.session = session
    try:
        for path in wheel_first(files):
            name = escape(Path(path).name)
            try:
                with _quiet_twine():
                    package = PackageFile.from_filename(str(path), None)
            except TwineException as exc:
                first = (str(exc).splitlines() or [""])[0]
                error = f"twine refused {name}: {clean(first, hidden, limit=_MAX_REASON)}"
                return Answer(False, None, "", tuple(answers), error)
            say(f"uploading {name} to {escape(index_url)}")
            try:
                with _quiet_twine():
                    response = repository.upload(package)
            except requests.RequestException as exc:
                error = _unreachable(exc, index_url, timeouts)
                say(f"{name}: {error}")
                return Answer(False, None, "", tuple(answers), error)
            reason = clean(response.reason or "", hidden, limit=_MAX_REASON)
            if response.is_redirect:
                target = clean(response.headers.get("Location", "?"), hidden, limit=_MAX_REASON)
                reason = f"{reason} (redirected to {target}: is the upload URL right?)"
            answer = FileAnswer(Path(path).name, response.status_code, reason)
            answers.append(answer)
            say(f"index answer for {name}: {answer.status} {reason}".rstrip())
            if not 200 <= response.status_code < 300:
                return Answer(False, answer.status, reason, tuple(answers))
    finally:
        repository.close()
    last = answers[-1] if answers else FileAnswer("", 200, "OK")
    return Answer(bool(answers), last.status, last.reason, tuple(answers))
