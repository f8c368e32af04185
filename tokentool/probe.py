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

The public face of the probe: ``tokentool probe``, ``invoke probe`` and
verify-rejection all call ``probe`` and print ``describe``, the one place a
verdict is worded: a probe's, and a negative check's (verify-rejection's
``Expectation``: refused as expected, SECURITY, refused for another reason,
unreachable, cannot be probed), even when that check sent real files. It builds on
``tokentool.sites`` (where a token may go) and ``tokentool._safety`` (what an
index says is redacted and escaped); nothing here imports the workflow. No
message it produces contains the token.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import html
import http
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymacaroons
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from tokentool import sites
from tokentool._safety import clean, escape
from tokentool.exceptions import LoadError, TokenError
from tokentool.options import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from tokentool.sites import Destination, safe_url
from tokentool.token import deserialize, invalid_project_name

__all__ = [
    "ACCEPTED",
    "CONNECT_TIMEOUT",
    "INCONCLUSIVE",
    "READ_TIMEOUT",
    "REFUSED",
    "Expectation",
    "Outcome",
    "ProbeError",
    "ProbeResult",
    "classify",
    "connection_problem",
    "describe",
    "describe_kind",
    "json_api_url",
    "new_project_sentence",
    "probe",
    "project_exists",
    "project_name",
    "security_line",
]

ACCEPTED, REFUSED, INCONCLUSIVE = "accepted", "refused", "inconclusive"
#: Seconds to wait for a connection, and for each read of an answer: the one
#: default of every command that talks to an index, declared with the options
#: (``tokentool.options``, where the reasons for 10 s and 60 s are).
CONNECT_TIMEOUT, READ_TIMEOUT = DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
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


class Outcome(enum.Enum):
    """A negative check's verdict (``Expectation.judge``): only ``REFUSED_AS_EXPECTED`` passes."""

    REFUSED_AS_EXPECTED = "refused as expected"
    ACCEPTED = "accepted"
    REFUSED_OTHERWISE = "refused for another reason"
    UNREACHABLE = "unreachable"
    UNPROBEABLE = "cannot be probed"


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What a negative check (verify-rejection) expects: a refusal because of the restriction.

    ``reason`` is the caveat's reason in warehouse's words (``token is expired``);
    it passes only among the reasons of a ``403 Invalid API Token: ...``.
    ``restricted_to`` is the one project the token may upload to, ``None`` for an
    expired token (the SECURITY sentence names it). ``prediction`` is the
    offline verdict's refusal, quoted when the index refused for another reason;
    ``url`` is the index's upload URL, named when it cannot be probed.
    """

    reason: str
    prediction: str = ""
    restricted_to: str | None = None
    url: str = ""

    def judge(self, result: ProbeResult) -> Outcome:
        """The verdict on ``result``: any acceptance (one file let through) fails it."""
        if result.security or result.outcome == ACCEPTED:
            return Outcome.ACCEPTED
        if result.outcome == REFUSED:
            reasons = result.detail.removeprefix(_INVALID_TOKEN).split(", ")
            if (
                result.status == 403
                and result.detail.startswith(_INVALID_TOKEN)
                and self.reason in reasons
            ):
                return Outcome.REFUSED_AS_EXPECTED
            return Outcome.REFUSED_OTHERWISE
        if result.kind == "unreachable":
            return Outcome.UNREACHABLE
        return Outcome.UNPROBEABLE


@dataclasses.dataclass(frozen=True)
class _Reply:
    """One HTTP answer: the status and the index's reason (redacted, escaped)."""

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
    index's last answer, ``STATUS reason`` (no token in it). ``expected`` is a
    negative check's expectation (verify-rejection): ``describe`` then words the
    check's verdict. A result of a real upload (verify-rejection's
    ``--real-upload``) is ``uploaded`` when the index took a file.
    """

    outcome: str
    detail: str
    kind: str = ""
    status: int | None = None
    security: bool = False
    answer: str = ""
    expected: Expectation | None = None

    @property
    def exit_code(self) -> int:
        if self.security:
            return 4
        return {ACCEPTED: 0, REFUSED: 1}.get(self.outcome, 3)

    def as_data(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.expected is None:
            del data["expected"]  # a probe's JSON: what ``tokentool probe --json`` prints
        return data


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


def json_api_url(repository_url: str | Destination, name: str) -> str:
    """``/pypi/NAME/json`` beside an upload URL (``sites.json_api_url``), or ``ProbeError``."""
    try:
        return sites.json_api_url(repository_url, name)
    except TokenError as exc:
        raise ProbeError(str(exc)) from None


def _session() -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # no .netrc credentials, no proxies from the environment
    return session


def _read_answer(response: Any, secrets: tuple[str, ...] = ()) -> _Reply:
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
    return _Reply(status, clean(reason, secrets, limit=2000))


def connection_problem(exc: BaseException, url: str, timeout: tuple[float, float] = TIMEOUT) -> str:
    """Why no answer came back, one sentence: the wording of every command that sends."""
    import requests

    where = safe_url(url)
    if isinstance(exc, requests.ConnectTimeout):
        return (
            f"index unreachable: no connection to {where} within {timeout[0]:g} s "
            "(raise it with --connect-timeout=SECONDS)"
        )
    if isinstance(exc, requests.Timeout):
        return (
            f"index did not answer: {where} accepted the connection but sent no answer "
            f"within {timeout[1]:g} s (raise it with --read-timeout=SECONDS)"
        )
    text = str(exc)
    if "Connection refused" in text:
        why = "connection refused"
    elif "NameResolution" in text or "Name or service not known" in text:
        why = "host name not found"
    elif isinstance(exc, requests.exceptions.SSLError):
        why = "TLS error"
    elif isinstance(exc, requests.ConnectionError):
        why = "connection refused or reset"
    else:
        why = type(exc).__name__
    return f"index unreachable: could not connect to {where} ({why})"


def project_name(
    index_url: str | Destination, name: str, *, timeout: tuple[float, float] = TIMEOUT
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
        raise ProbeError(connection_problem(exc, url, timeout)) from None
    if answer.status == 404:
        return None
    raise ProbeError(
        f"{safe_url(url)} answered {answer.status} {answer.reason}: cannot tell "
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
    return escape(found)


def project_exists(
    index_url: str | Destination, name: str, *, timeout: tuple[float, float] = TIMEOUT
) -> bool:
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
    url: str,
    upload: _Upload,
    token: str,
    timeout: tuple[float, float],
    secrets: tuple[str, ...],
    *,
    bare: bool = False,
) -> _Reply:
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
        return _read_answer(response, secrets)


def _macaroon(token: str) -> pymacaroons.Macaroon:
    try:
        return deserialize(token.strip())
    except LoadError as exc:
        raise ProbeError(str(exc)) from None


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


def classify(status: int, reason: str) -> ProbeResult:
    """What one answer to a wrong-digest upload says, in warehouse's words and order.

    ``file_upload``: ``ensure_uploads_allowed`` (read-only, the identity),
    the form, ``create_project`` for a missing name (rate limit, name rules),
    ``has_permission`` (the token, then the user's role), then
    ``_ensure_user_can_upload`` (e-mail, 2FA), the organization, and the file.
    """
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


def probe(
    repository_url: str | Destination,
    token: str,
    project: str,
    dist: Path | str,
    *,
    expect_refusal: bool = False,
    expected: Expectation | None = None,
    check_exists: bool = True,
    allow_other_host: bool = False,
    timeout: tuple[float, float] = TIMEOUT,
    progress: Progress | None = None,
    secrets: tuple[str, ...] = (),
) -> ProbeResult:
    """Would ``repository_url`` accept ``token`` for an upload of ``dist`` to ``project``?

    Nothing is published: every request carries a wrong digest. A missing
    project is not probed (warehouse would create it first and count it against
    the user's new-project limit) unless ``check_exists`` is False. The token
    goes only where ``sites.check_destination`` lets it (``allow_other_host``
    as there; production is allowed, nothing is published).
    ``expect_refusal`` marks an acceptance as a security failure; ``expected``
    (a negative check's expectation) implies it, and rides on the result for
    ``describe``. ``progress``
    is told each request and its answer (one line, no token); ``secrets`` are
    other strings (the token a derived one came from) no answer may repeat.
    """
    try:
        canonicalize_name(project, validate=True)
    except Exception:
        raise ProbeError(escape(invalid_project_name(project))) from None
    macaroon = _macaroon(token)
    dest = sites.check_destination(
        macaroon.location or "",
        repository_url,
        allow_production=True,
        allow_other_host=allow_other_host,
    )
    upload = _describe_file(project, Path(dist))
    replies: list[_Reply] = []
    result = _probe(
        dest,
        token.strip(),
        macaroon,
        upload,
        replies,
        expect_refusal or expected is not None,
        check_exists,
        timeout,
        progress or (lambda _line: None),
        secrets,
    )
    if replies and not result.answer:
        last = replies[-1]
        result = dataclasses.replace(result, answer=f"{last.status} {last.reason}".rstrip())
    if expected is not None:
        result = dataclasses.replace(result, expected=expected)
    return result


def _probe(
    dest: Destination,
    real: str,
    macaroon: pymacaroons.Macaroon,
    upload: _Upload,
    replies: list[_Reply],
    expect_refusal: bool,
    check_exists: bool,
    timeout: tuple[float, float],
    say: Progress,
    secrets: tuple[str, ...],
) -> ProbeResult:
    project = upload.fields["name"]
    try:
        if check_exists and not project_exists(dest, project, timeout=timeout):
            return ProbeResult(INCONCLUSIVE, new_project_sentence(project), "new-project")
    except ProbeError as exc:
        return ProbeResult(INCONCLUSIVE, str(exc), "unreachable")
    steps = (
        ("an unknown token", _unknown_token(macaroon)),
        ("the token with a broken signature", _broken_signature(macaroon)),
        ("the token", real),
    )
    url = dest.url
    for what, sent in steps:
        say(f"probe with {what}: {escape(upload.filename)}, wrong digest, to {safe_url(url)}")
        try:
            reply = _send(url, upload, sent, timeout, (sent, real, *secrets), bare=not replies)
        except Exception as exc:
            return ProbeResult(INCONCLUSIVE, connection_problem(exc, url, timeout), "unreachable")
        replies.append(reply)
        say(f"index answer to {what}: {reply.status} {reply.reason}".rstrip())
        if len(replies) == 1:
            if not (reply.status == 403 and reply.reason.startswith(_UNKNOWN_TOKEN)):
                first = classify(reply.status, reply.reason)
                if first.kind == "uploads-disabled":
                    return first
                return _uncalibrated(what, reply, "403 " + _UNKNOWN_TOKEN)
        elif len(replies) == 2:
            # Caveats are judged before the signature, so a token its caveats
            # refuse gets their reasons here: judged before the file, as required.
            if not (reply.status == 403 and reply.reason.startswith(_INVALID_TOKEN)):
                second = classify(reply.status, reply.reason)
                if second.kind in _BEFORE_SIGNATURE:
                    # Warehouse gives these before it looks at the signature:
                    # the token itself would get the very same answer.
                    return second
                return _uncalibrated(what, reply, "403 " + _BAD_SIGNATURE)
    last = replies[2]
    result = classify(last.status, last.reason)
    if result.outcome == INCONCLUSIVE and last.status == 400:
        # The same form passed warehouse's form checks for the control, which was
        # refused at ``has_permission``: a 400 now comes after it, so the token passed.
        result = ProbeResult(
            ACCEPTED,
            f"the index would accept this token (the upload itself would fail: "
            f"{last.status} {last.reason})",
            "accepted-other",
            last.status,
        )
    if expect_refusal and (result.outcome == ACCEPTED or result.kind == "org-inactive"):
        return dataclasses.replace(
            result,
            detail="the index accepted a token that should be refused (nothing was published: "
            "the wrong digest stopped the upload)",
            security=True,
        )
    return result


def security_line(what: str) -> str:
    """The SECURITY sentence: the index accepted ``what``, a token it must refuse.

    Part of the interface (scripts grep for it): every face that finds an index
    accepting such a token words it here, the conformance run included.
    """
    return f"SECURITY: the index accepted {what}"


def describe(result: ProbeResult, project: str) -> str:
    """The one line every face prints for a probe's result (escaped, no token).

    A probe's acceptance goes to standard output, everything else to standard
    error (``result.exit_code`` tells which). A negative check's result
    (``result.expected``) gets the check's verdict (``Expectation.judge``); its
    sentences are part of the interface.
    """
    if result.expected is not None:
        return _describe_check(result, result.expected, project)
    if result.security:
        return f"SECURITY: {escape(result.detail)}"
    if result.outcome == ACCEPTED:
        accepted = f"accepted: the index would take this token for {escape(repr(project))}"
        if result.kind == "accepted-other":
            accepted += f", but the upload itself would fail: {escape(result.answer)}"
        return accepted + " (nothing was published)"
    if result.outcome == REFUSED:
        label = describe_kind(result.kind)
        return f"refused ({result.kind}: {label}): {result.status} {escape(result.detail)}"
    return f"inconclusive: {escape(result.detail)}"


def _describe_check(result: ProbeResult, expected: Expectation, project: str) -> str:
    """verify-rejection's verdict on ``result`` (the probe's, or a real upload's answer)."""
    outcome = expected.judge(result)
    if outcome is Outcome.REFUSED_AS_EXPECTED:
        return f"refused as expected: {escape(result.answer)}"
    if outcome is Outcome.ACCEPTED:
        if expected.restricted_to is None:
            return security_line("an expired token")
        return security_line(f"a token restricted to {escape(expected.restricted_to)}")
    if outcome is Outcome.UNREACHABLE:
        return escape(result.detail)
    if outcome is Outcome.UNPROBEABLE:
        return (
            f"the index at {escape(expected.url)} can't be probed, so nothing was sent "
            f"with the real file's digest and nothing was published: {escape(result.detail)}; "
            "verify-rejection cannot tell whether it refuses this token (--real-upload "
            "uploads the real files instead, which publishes them if it accepts the token)"
        )
    kind = result.kind or "unexpected"
    why = "the token was refused for other reasons" if kind == "token" else describe_kind(kind)
    return (
        f"the upload of {escape(project)} was refused, but not because of the token's "
        f"restriction: {why}: {escape(result.answer)} "
        f"(expected 403 {escape(expected.prediction)})"
    )


def _uncalibrated(what: str, answer: _Reply, expected: str) -> ProbeResult:
    return ProbeResult(
        INCONCLUSIVE,
        f'the index answered {what} with "{answer.status} {answer.reason}" where warehouse '
        f'answers "{expected}": it does not judge tokens before files as warehouse does, '
        "so a probe cannot tell what it would do",
        "calibration",
        answer.status,
    )
