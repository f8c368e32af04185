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
from collections.abc import Callable, Sequence
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
    "describe_kind",
    "json_api_url",
    "new_project_sentence",
    "probe",
    "project_exists",
    "project_name",
]

ACCEPTED, REFUSED, INCONCLUSIVE = "accepted", "refused", "inconclusive"
#: Seconds to connect and to wait for each read.
TIMEOUT = (10.0, 120.0)
#: The most of an answer's body read (warehouse puts its reason in the status line).
MAX_BODY = 64 * 1024
#: The most of a JSON API answer read for the project's stored name (all its releases).
MAX_JSON = 16 * 1024 * 1024

_DIGEST_MISMATCH = "The digest supplied does not match a digest calculated from the uploaded file."
_UNKNOWN_TOKEN = "Invalid or non-existent authentication information."
_INVALID_TOKEN = "Invalid API Token: "
_BAD_SIGNATURE = "Invalid API Token: signatures do not match"
Progress = Callable[[str], None]

#: What each ``ProbeResult.kind`` of refusal (or of no verdict) means, in words.
KINDS = {
    "token": "the token's restrictions or signature",
    "unknown-token": "the index does not know this token",
    "no-role": "the token's user has no role that may upload to the project",
    "unverified-email": "the token's user has no verified primary e-mail address",
    "no-2fa": "the token's user has not enabled two-factor authentication",
    "password": "a password was sent where the index wants an API token",
    "rate-limit": "too many new projects were created (the index's rate limit)",
    "project-name": "the index does not allow this project name",
    "uploads-disabled": "the index takes no uploads at the moment",
    "org-inactive": "the project's organization is inactive (the token itself was accepted)",
    "unreachable": "the index could not be reached",
    "calibration": "the index does not judge tokens before files as warehouse does",
    "new-project": "the project does not exist yet",
    "unexpected": "the index answered something a probe cannot read",
}
#: Refusals warehouse gives before it judges the token's signature: the token
#: itself would get the same answer (``ensure_uploads_allowed``, the identity,
#: ``_ensure_user_can_upload`` and ``create_project`` for a missing project).
_BEFORE_SIGNATURE = {
    "unknown-token",
    "unverified-email",
    "no-2fa",
    "password",
    "rate-limit",
    "project-name",
    "uploads-disabled",
}


class ProbeError(TokenError):
    """The probe could not be set up (a missing file, an unreadable token, a bad URL)."""


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    reason: str


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """accepted / refused (``detail`` is the index's reason) / inconclusive (``detail`` says why).

    ``kind`` names the refusal precisely (``KINDS``): ``token`` (caveats or
    signature), ``unknown-token``, ``no-role``, ``unverified-email``,
    ``no-2fa``, ``password``, ``rate-limit``, ``project-name``,
    ``uploads-disabled``, ``org-inactive``; an acceptance (``digest``, or
    ``accepted-other`` when the upload would fail after the token passed); or
    why nothing could be said: ``unreachable``, ``calibration``,
    ``new-project``, ``unexpected``. ``security`` is set when the index
    accepted a token the caller expected it to refuse. ``answer`` is the
    index's last answer, ``STATUS reason`` (no token in it).
    """

    outcome: str
    detail: str
    kind: str = ""
    status: int | None = None
    security: bool = False
    answer: str = ""

    @property
    def exit_code(self) -> int:
        if self.security:
            return 4
        return {ACCEPTED: 0, REFUSED: 1}.get(self.outcome, 3)

    def as_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe_kind(kind: str) -> str:
    """``ProbeResult.kind`` in words (``kind`` itself when it has none)."""
    return KINDS.get(kind, kind)


def new_project_sentence(name: str) -> str:
    """Why a negative upload to a missing project is refused, and what to do instead."""
    return (
        f"project {name!r} does not exist on the index, and a first upload of a new name "
        "creates the project before the token is judged and counts against the "
        "new-project quota even when it is refused: upload it once first "
        f"(invoke upload --project={name}), or pass --allow-new-project to spend the quota"
    )


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


def project_name(
    index_url: str, name: str, *, timeout: tuple[float, float] = TIMEOUT
) -> str | None:
    """The project's stored display name from warehouse's JSON API; ``None`` when it is missing.

    Warehouse quotes that name (``context.name``), not the typed one, when it
    refuses a token. ``index_url`` is the upload URL or the site's root. Any
    answer but 200 or 404, or no answer, raises ``ProbeError``: a guess here
    could spend a new-project quota. A 200 whose body cannot be read (too big,
    not JSON) gives the typed name: the project exists.
    """
    url = json_api_url(index_url, name)
    try:
        with _session() as session:
            response = session.get(url, timeout=timeout, stream=True, allow_redirects=True)
            if response.status_code == 200:
                try:
                    body = response.raw.read(MAX_JSON + 1, decode_content=True) or b""
                finally:
                    response.close()
                return _info_name(body) or name
            answer = _read_answer(response)
    except ProbeError:
        raise
    except Exception as exc:
        raise ProbeError(_connection_problem(exc, url)) from None
    if answer.status == 404:
        return None
    raise ProbeError(
        f"{_safe_url(url)} answered {answer.status} {answer.reason}: cannot tell "
        "whether the project exists"
    )


def _info_name(body: bytes) -> str | None:
    """``info.name`` of a JSON API answer, or ``None`` if it cannot be read within bounds."""
    import json

    if len(body) > MAX_JSON:
        return None
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    info = data.get("info") if isinstance(data, dict) else None
    found = info.get("name") if isinstance(info, dict) else None
    if not isinstance(found, str) or not found or len(found) > 200:
        return None
    return _printable(found)


def project_exists(index_url: str, name: str, *, timeout: tuple[float, float] = TIMEOUT) -> bool:
    """Whether the index knows project ``name`` (``project_name`` is not ``None``)."""
    return project_name(index_url, name, timeout=timeout) is not None


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
    """What one answer to a wrong-digest upload says, in warehouse's words and order.

    ``file_upload``: ``ensure_uploads_allowed`` (read-only, the identity),
    the form, ``create_project`` for a missing name (rate limit, name rules),
    ``has_permission`` (the token, then the user's role), then
    ``_ensure_user_can_upload`` (e-mail, 2FA), the organization, and the file.
    """
    status, reason = answer.status, answer.reason
    if status == 400 and reason.startswith(_DIGEST_MISMATCH):
        return ProbeResult(ACCEPTED, "the index would accept this token", "digest", status)
    kind = ""
    if status == 403:
        if reason.startswith(_INVALID_TOKEN):
            kind = "token"
        elif reason.startswith(_UNKNOWN_TOKEN):
            kind = "unknown-token"
        elif "isn't allowed to upload to project" in reason:
            kind = "no-role"
        elif "does not have a verified primary email address" in reason:
            kind = "unverified-email"
        elif "does not have two-factor authentication enabled" in reason:
            kind = "no-2fa"
        elif reason.startswith("Username/Password authentication is no longer supported"):
            kind = "password"
        elif reason.startswith(
            ("Read-only mode:", "New uploads are temporarily disabled", "New project registration")
        ):
            kind = "uploads-disabled"
    elif status == 429 and reason.startswith("Too many new projects created"):
        kind = "rate-limit"
    elif (
        status in (400, 409)
        and reason.startswith("The name ")
        and (
            "isn't allowed" in reason
            or "is invalid" in reason
            or "is too similar" in reason
            or "conflicts with an existing project" in reason
        )
    ):
        kind = "project-name"
    elif status == 400 and reason.startswith("Organization account owning this project"):
        kind = "org-inactive"
    if kind:
        return ProbeResult(REFUSED, reason, kind, status)
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


def _redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` without any of ``secrets``, raw or as the Basic credentials they were sent in."""
    import base64

    for secret in secrets:
        if not secret:
            continue
        basic = base64.b64encode(f"__token__:{secret}".encode()).decode()
        for form in (secret, basic, basic.rstrip("="), secret[5:] if len(secret) > 25 else ""):
            if form:
                text = text.replace(form, "…(redacted)")
    return re.sub(r"pypi-[A-Za-z0-9_-]{8,}", lambda m: m[0][:9] + "…(redacted)", text)


def probe(
    repository_url: str,
    token: str,
    project: str,
    dist: Path | str,
    *,
    expect_refusal: bool = False,
    check_exists: bool = True,
    timeout: tuple[float, float] = TIMEOUT,
    progress: Progress | None = None,
) -> ProbeResult:
    """Would ``repository_url`` accept ``token`` for an upload of ``dist`` to ``project``?

    Nothing is published: every request carries a wrong digest. A missing
    project is not probed (warehouse would create it first and count it against
    the user's new-project limit) unless ``check_exists`` is False.
    ``expect_refusal`` marks an acceptance as a security failure. ``progress``
    is told each request and its answer (one line, no token).
    """
    answers: list[Answer] = []
    result = _probe(
        repository_url,
        token,
        project,
        dist,
        answers,
        expect_refusal,
        check_exists,
        timeout,
        progress or (lambda _line: None),
    )
    if answers and not result.answer:
        last = answers[-1]
        result = dataclasses.replace(result, answer=f"{last.status} {last.reason}".rstrip())
    return result


def _probe(
    repository_url: str,
    token: str,
    project: str,
    dist: Path | str,
    answers: list[Answer],
    expect_refusal: bool,
    check_exists: bool,
    timeout: tuple[float, float],
    say: Progress,
) -> ProbeResult:
    try:
        canonicalize_name(project, validate=True)
    except Exception:
        from tokentool.token import invalid_project_name

        raise ProbeError(invalid_project_name(project)) from None
    macaroon = _macaroon(token)
    json_api_url(repository_url, project)  # an http(s) URL, or ProbeError
    _check_destination(macaroon, repository_url)
    upload = _describe_file(project, Path(dist))
    url = repository_url
    try:
        if check_exists and not project_exists(url, project, timeout=timeout):
            return ProbeResult(INCONCLUSIVE, new_project_sentence(project), "new-project")
    except ProbeError as exc:
        return ProbeResult(INCONCLUSIVE, str(exc), "unreachable")
    real = token.strip()
    steps = (
        ("an unknown token", _unknown_token(macaroon)),
        ("the token with a broken signature", _broken_signature(macaroon)),
        ("the token", real),
    )
    for what, sent in steps:
        say(f"probe with {what}: {upload.filename}, wrong digest, to {_safe_url(url)}")
        try:
            raw = _send(url, upload, sent, timeout, bare=not answers)
        except Exception as exc:
            return ProbeResult(INCONCLUSIVE, _connection_problem(exc, url), "unreachable")
        answer = Answer(raw.status, _redact(raw.reason, (sent, real)))
        answers.append(answer)
        say(f"index answer to {what}: {answer.status} {answer.reason}".rstrip())
        if len(answers) == 1:
            if not (answer.status == 403 and answer.reason.startswith(_UNKNOWN_TOKEN)):
                first = classify(answer)
                if first.kind == "uploads-disabled":
                    return first
                return _uncalibrated(what, answer, "403 " + _UNKNOWN_TOKEN)
        elif len(answers) == 2:
            # Caveats are judged before the signature, so a token its caveats
            # refuse gets their reasons here: judged before the file, as required.
            if not (answer.status == 403 and answer.reason.startswith(_INVALID_TOKEN)):
                second = classify(answer)
                if second.kind in _BEFORE_SIGNATURE:
                    # Warehouse gives these before it looks at the signature:
                    # the token itself would get the very same answer.
                    return second
                return _uncalibrated(what, answer, "403 " + _BAD_SIGNATURE)
    result = classify(answers[2])
    if result.outcome == INCONCLUSIVE and answers[2].status == 400:
        # The same form passed warehouse's form checks for the control, which was
        # refused at ``has_permission``: a 400 now comes after it, so the token passed.
        result = ProbeResult(
            ACCEPTED,
            f"the index would accept this token (the upload itself would fail: "
            f"{answers[2].status} {answers[2].reason})",
            "accepted-other",
            answers[2].status,
        )
    if expect_refusal and (result.outcome == ACCEPTED or result.kind == "org-inactive"):
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
