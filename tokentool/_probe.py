""" "Will my token work?" asked of a real index without publishing or creating anything.

Warehouse judges an upload in a fixed order (``forklift.legacy.file_upload``):
the identity (is the token known), the form and metadata, the project (created
if missing, which is why a probe insists on an existing one), the token's
caveats and signature, the account (verified e-mail, 2FA), and only then the
file, whose digest is compared before anything is stored. So an upload of the
real file carrying a deliberately wrong digest is answered:

* ``403 Invalid API Token: ...`` (or another 403 about the account) when the
  token would be refused, with the reason it would get;
* ``400 The digest supplied does not match ...`` when the token would be
  accepted, and nothing is published.

Two controls first prove the index judges in that order: a request with an
unknown token must get ``403 Invalid or non-existent authentication
information`` (sent without metadata or file: warehouse looks at the identity
first, and an index that takes any token has nothing to store), and the full
request with the user's own token carrying a broken signature ``403 Invalid API
Token: signatures do not match`` (or its caveats' reasons). An index answering
either otherwise cannot be probed: the result is inconclusive and says why.
Every upload carries the wrong digest.

This module is self-contained (``requests`` only) so that tasks and commands
can build on it; no message it produces contains the token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import http
import os
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pymacaroons
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from tokentool.exceptions import TokenError

__all__ = [
    "ACCEPTED",
    "INCONCLUSIVE",
    "REFUSED",
    "ProbeError",
    "ProbeResult",
    "json_api_url",
    "probe",
    "project_exists",
]

ACCEPTED, REFUSED, INCONCLUSIVE = "accepted", "refused", "inconclusive"
#: Seconds to connect and to wait for each read.
TIMEOUT = (10.0, 120.0)
#: The most of an answer's body read (warehouse puts its reason in the status line).
MAX_BODY = 64 * 1024

_DIGEST_MISMATCH = "The digest supplied does not match a digest calculated from the uploaded file."
_UNKNOWN_TOKEN = "Invalid or non-existent authentication information."
_INVALID_TOKEN = "Invalid API Token: "
_BAD_SIGNATURE = "Invalid API Token: signatures do not match"


class ProbeError(TokenError):
    """The probe could not be set up (a missing file, an unreadable token, a bad URL)."""


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    reason: str


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """accepted / refused (``detail`` is the index's reason) / inconclusive (``detail`` says why).

    ``kind`` names the refusal precisely: ``token`` (caveats or signature),
    ``unknown-token``, ``no-role``, ``unverified-email``, ``no-2fa``,
    ``password``; or why nothing could be said: ``unreachable``,
    ``calibration``, ``new-project``, ``unexpected``. ``security`` is set when
    the index accepted a token the caller expected it to refuse.
    """

    outcome: str
    detail: str
    kind: str = ""
    status: int | None = None
    security: bool = False

    @property
    def exit_code(self) -> int:
        if self.security:
            return 4
        return {ACCEPTED: 0, REFUSED: 1}.get(self.outcome, 3)

    def as_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def json_api_url(repository_url: str, name: str) -> str:
    """``/pypi/NAME/json`` beside an upload URL such as ``https://test.pypi.org/legacy/``."""
    parts = urlsplit(repository_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProbeError(f"not an http(s) URL: {_safe_url(repository_url)}")
    path = parts.path.rstrip("/")
    if path.endswith("/legacy") or path == "legacy":
        path = path[: -len("legacy")].rstrip("/")
    # pypi.org takes uploads on upload.pypi.org and answers the JSON API on pypi.org.
    netloc = "pypi.org" if parts.netloc == "upload.pypi.org" else parts.netloc
    return urlunsplit((parts.scheme, netloc, f"{path}/pypi/{quote(name, safe='')}/json", "", ""))


#: Hosts a token of each public site may be sent to.
_SITE_HOSTS = {"pypi.org": {"pypi.org", "upload.pypi.org"}, "test.pypi.org": {"test.pypi.org"}}


def _check_destination(macaroon: pymacaroons.Macaroon, repository_url: str) -> None:
    """A token a public site issued goes to that site only (elsewhere it would leak)."""
    issuer = macaroon.location or ""
    host = (urlsplit(repository_url).hostname or "").lower()
    allowed = _SITE_HOSTS.get(issuer)
    if allowed is not None and host not in allowed:
        raise ProbeError(
            f"the token was issued by {issuer}; it is not sent to {host or 'that URL'}"
        )


def _safe_url(url: str) -> str:
    """A URL without credentials, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _session() -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # no .netrc credentials, no proxies from the environment
    return session


def _read_answer(response: Any) -> Answer:
    try:
        body = response.raw.read(MAX_BODY, decode_content=True) or b""
    except Exception:  # a peer closing mid-body: the status line is what matters
        body = b""
    finally:
        response.close()
    status = int(response.status_code)
    reason = response.reason or ""
    if isinstance(reason, bytes):
        reason = reason.decode("latin-1")
    try:
        generic = http.HTTPStatus(status).phrase
    except ValueError:
        generic = ""
    if not reason or reason == generic:
        # Not warehouse's style (the reason in the status line): the body, as text.
        text = body.decode("utf-8", "replace")
        if text.lstrip().startswith("<"):
            text = re.sub(r"<(script|style)\b.*?</\1>|<!--.*?-->|<[^>]*>", " ", text, flags=re.S)
            text = html.unescape(text)
        text = " ".join(text.split())
        reason = text[:300] if text else reason
    return Answer(status, _printable(reason)[:2000])


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _connection_problem(exc: Exception, url: str) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"could not connect to {_safe_url(url)}: timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"{_safe_url(url)} did not answer in time"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"could not connect to {_safe_url(url)}: connection refused or reset"
    return f"the request to {_safe_url(url)} failed ({type(exc).__name__})"


def project_exists(index_url: str, name: str, *, timeout: tuple[float, float] = TIMEOUT) -> bool:
    """Whether the index knows project ``name``, from warehouse's JSON API (404: missing).

    ``index_url`` is the upload URL or the site's root. Any other answer, or
    no answer, raises ``ProbeError``: a guess here could spend a new-project
    quota.
    """
    url = json_api_url(index_url, name)
    try:
        with _session() as session:
            response = session.get(url, timeout=timeout, stream=True, allow_redirects=True)
            answer = _read_answer(response)
    except Exception as exc:
        raise ProbeError(_connection_problem(exc, url)) from None
    if answer.status == 200:
        return True
    if answer.status == 404:
        return False
    raise ProbeError(
        f"{_safe_url(url)} answered {answer.status} {answer.reason}: cannot tell "
        "whether the project exists"
    )


@dataclasses.dataclass(frozen=True)
class _Upload:
    fields: dict[str, str]
    filename: str
    path: Path


def _describe_file(project: str, path: Path) -> _Upload:
    """The form for ``path`` as twine sends it, but with a digest that cannot match."""
    if not path.is_file():
        raise ProbeError(f"no such distribution file: {path}")
    filename = path.name
    try:
        if filename.endswith(".whl"):
            _name, version, _build, tags = parse_wheel_filename(filename)
            filetype = "bdist_wheel"
            pyversion = sorted(t.interpreter for t in tags)[0]
        else:
            _name, version = parse_sdist_filename(filename)
            filetype, pyversion = "sdist", "source"
    except (InvalidWheelFilename, InvalidSdistFilename):
        raise ProbeError(f"not a distribution file name: {filename!r}") from None
    sha256 = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            sha256.update(chunk)
    # Deliberately wrong: the digest of other bytes, never this file's.
    wrong = hashlib.sha256(b"tokentool probe, not this file:" + sha256.digest()).hexdigest()
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": project,
        "version": str(version),
        "filetype": filetype,
        "pyversion": pyversion,
        "sha256_digest": wrong,
    }
    return _Upload(fields, filename, path)


def _send(
    url: str, upload: _Upload, token: str, timeout: tuple[float, float], *, bare: bool = False
) -> Answer:
    """POST the wrong-digest upload; ``bare``: the form alone, no metadata and no file.

    Warehouse looks at the identity before the form, so a bare request with an
    unknown token gets the same 403 as a full one, while an index that takes
    any token cannot store anything from it.
    """
    with _session() as session, open(upload.path, "rb") as content:
        if bare:
            fields = {k: upload.fields[k] for k in (":action", "protocol_version")}
            files = None
        else:
            fields = upload.fields
            files = {"content": (upload.filename, content, "application/octet-stream")}
        response = session.post(
            url,
            data=fields,
            files=files,
            auth=("__token__", token),
            timeout=timeout,
            stream=True,
            allow_redirects=False,
        )
        return _read_answer(response)


def _macaroon(token: str) -> pymacaroons.Macaroon:
    prefix, _sep, body = token.strip().partition("-")
    try:
        if prefix != "pypi" or not body:
            raise ValueError
        return pymacaroons.Macaroon.deserialize(body)
    except Exception:
        raise ProbeError("the token could not be decoded: it is truncated or corrupted") from None


def _unknown_token(macaroon: pymacaroons.Macaroon) -> str:
    stranger = pymacaroons.Macaroon(
        location=macaroon.location,
        identifier=str(uuid.uuid4()),
        key=os.urandom(32),
        version=pymacaroons.MACAROON_V2,
    )
    return "pypi-" + stranger.serialize()


def _broken_signature(macaroon: pymacaroons.Macaroon) -> str:
    signature = bytearray(bytes.fromhex(macaroon.signature))
    signature[0] ^= 0x01
    broken = pymacaroons.Macaroon(
        location=macaroon.location,
        identifier=macaroon.identifier_bytes,
        caveats=list(macaroon.caveats),
        signature=signature.hex(),
        version=macaroon.version,
    )
    return "pypi-" + broken.serialize()


def classify(answer: Answer) -> ProbeResult:
    """What one answer to a wrong-digest upload says about the token."""
    status, reason = answer.status, answer.reason
    if status == 400 and reason.startswith(_DIGEST_MISMATCH):
        return ProbeResult(ACCEPTED, "the index would accept this token", "digest", status)
    if status == 403:
        if reason.startswith(_INVALID_TOKEN):
            return ProbeResult(REFUSED, reason, "token", status)
        if reason.startswith(_UNKNOWN_TOKEN):
            return ProbeResult(REFUSED, reason, "unknown-token", status)
        if "isn't allowed to upload to project" in reason:
            return ProbeResult(REFUSED, reason, "no-role", status)
        if "does not have a verified primary email address" in reason:
            return ProbeResult(REFUSED, reason, "unverified-email", status)
        if "does not have two-factor authentication enabled" in reason:
            return ProbeResult(REFUSED, reason, "no-2fa", status)
        if reason.startswith("Username/Password authentication is no longer supported"):
            return ProbeResult(REFUSED, reason, "password", status)
    if 200 <= status < 300:
        return ProbeResult(
            INCONCLUSIVE,
            f"the index answered {status} to a file with a wrong digest: it does not check "
            "digests as warehouse does, and may have stored the file",
            "unexpected",
            status,
        )
    return ProbeResult(
        INCONCLUSIVE,
        f"the index answered {status} {reason}, which says nothing about the token",
        "unexpected",
        status,
    )


def probe(
    repository_url: str,
    token: str,
    project: str,
    dist: Path | str,
    *,
    expect_refusal: bool = False,
    check_exists: bool = True,
    timeout: tuple[float, float] = TIMEOUT,
) -> ProbeResult:
    """Would ``repository_url`` accept ``token`` for an upload of ``dist`` to ``project``?

    Nothing is published: every request carries a wrong digest. A missing
    project is not probed (warehouse would create it first and count it against
    the user's new-project limit) unless ``check_exists`` is False.
    ``expect_refusal`` marks an acceptance as a security failure.
    """
    try:
        canonicalize_name(project, validate=True)
    except Exception:
        raise ProbeError(f"invalid project name: {project!r}") from None
    macaroon = _macaroon(token)
    json_api_url(repository_url, project)  # an http(s) URL, or ProbeError
    _check_destination(macaroon, repository_url)
    upload = _describe_file(project, Path(dist))
    url = repository_url
    try:
        if check_exists and not project_exists(url, project, timeout=timeout):
            return ProbeResult(
                INCONCLUSIVE,
                f"project {project!r} does not exist on the index: a probe would create it "
                "first and count it against the new-project limit; upload it once "
                "(invoke upload --project=NAME) and probe again",
                "new-project",
            )
    except ProbeError as exc:
        return ProbeResult(INCONCLUSIVE, str(exc), "unreachable")
    steps = (
        ("an unknown token", _unknown_token(macaroon)),
        ("the token with a broken signature", _broken_signature(macaroon)),
        ("the token", token.strip()),
    )
    answers: list[Answer] = []
    for what, sent in steps:
        try:
            answers.append(_send(url, upload, sent, timeout, bare=not answers))
        except Exception as exc:
            return ProbeResult(INCONCLUSIVE, _connection_problem(exc, url), "unreachable")
        if len(answers) == 1:
            first = answers[0]
            if not (first.status == 403 and first.reason.startswith(_UNKNOWN_TOKEN)):
                return _uncalibrated(what, first, "403 " + _UNKNOWN_TOKEN)
        elif len(answers) == 2:
            # Caveats are judged before the signature, so a token its caveats
            # refuse gets their reasons here: judged before the file, as required.
            second = answers[1]
            if not (second.status == 403 and second.reason.startswith(_INVALID_TOKEN)):
                return _uncalibrated(what, second, "403 " + _BAD_SIGNATURE)
    result = classify(answers[2])
    if result.outcome == ACCEPTED and expect_refusal:
        return dataclasses.replace(
            result,
            detail="the index accepted a token that should be refused (nothing was published: "
            "the wrong digest stopped the upload)",
            security=True,
        )
    return result


def _uncalibrated(what: str, answer: Answer, expected: str) -> ProbeResult:
    return ProbeResult(
        INCONCLUSIVE,
        f'the index answered {what} with "{answer.status} {answer.reason}" where warehouse '
        f'answers "{expected}": it does not judge tokens before files as warehouse does, '
        "so a probe cannot tell what it would do",
        "calibration",
        answer.status,
    )
