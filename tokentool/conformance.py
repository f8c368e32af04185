"""Does an index still answer as tokentool predicts Test PyPI answers? Asked, not assumed.

``tokentool conformance`` (and ``invoke conformance``) asks an index a fixed
set of questions and compares each answer, status and words, with the
prediction. The predictions come from the code that makes every other
prediction: the stand-in's own upload pipeline (an in-process scratch copy,
seeded with what the index's JSON API says: the project and its stored name)
for the questions about routing, identity, metadata and file names, and
``Token.evaluate`` (what ``tokentool check`` runs, and what the stand-in's
``authorize`` runs) for the questions about the token.

Nothing is published and nothing is created. ``file_upload`` judges in a
fixed order, and every question is refused before anything is stored:

1. ``json-api``, ``simple-json``: GETs (``legacy.api.json.json_project``,
   ``api.simple.simple_detail``). They give the context: a missing project
   stops here (any upload would create it: ``create_project``).
2. ``no-action``: a POST without ``:action`` matches no upload route
   (``forklift/__init__.py``: 404, or 405 where a forklift domain is set); no
   view runs.
3. ``no-credentials``, ``unknown-token``: ``file_upload``'s identity test
   (``request.identity is None``) refuses before the form is read; sent
   without metadata or file, so an index taking anyone has nothing to store.
   If either is not refused, no file is sent at all.
4. ``metadata-version``: Metadata-Version 2.0 fails ``parse_form_metadata``
   before "no file part", before the project is looked at; sent without file.
5. ``broken-signature``, ``other-project``, ``expired``, ``not-yet-valid``,
   ``other-user``: refused at ``has_permission`` (the caveats, then the
   signature: ``MacaroonSecurityPolicy.permits``), before the file is read;
   the file carries a wrong digest all the same (as ``tokentool probe``).
6. ``wrong-digest``: the user's token and the real file with a wrong digest:
   refused after the token passed, while the file is buffered ("The digest
   supplied does not match"), before anything is stored.
7. ``filename``: asked last and only if every earlier answer was as
   predicted (an index that checks digests and identity): a wheel named for
   another project with the right digest is refused at "Start filename for"
   (after ``_is_valid_dist_file``); it lacks RECORD, so an index skipping that
   check still refuses it at the RECORD check that follows.

At most ``MAX_REQUESTS`` requests and ``MAX_BYTES`` in all, sent and read.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tokentool
from tokentool import probe as _probe
from tokentool import sites
from tokentool._safety import clean, escape
from tokentool.exceptions import ConfigError
from tokentool.sites import Destination
from tokentool.token import Token

__all__ = [
    "MAX_BYTES",
    "MAX_REQUESTS",
    "QUESTIONS",
    "Case",
    "Report",
    "conformance",
    "format_table",
    "render",
]

MAX_REQUESTS = 20
MAX_BYTES = 1 << 20
#: Every question, in the order asked (see the module's docstring for why).
QUESTIONS = (
    "json-api",
    "simple-json",
    "no-action",
    "no-credentials",
    "unknown-token",
    "metadata-version",
    "broken-signature",
    "other-project",
    "expired",
    "not-yet-valid",
    "other-user",
    "wrong-digest",
    "filename",
)
#: Questions whose prediction is a refusal of the token: an acceptance is a SECURITY failure.
MUST_REFUSE = frozenset(
    {
        "no-credentials",
        "unknown-token",
        "broken-signature",
        "other-project",
        "expired",
        "not-yet-valid",
        "other-user",
    }
)
JSON_V1 = "application/vnd.pypi.simple.v1+json"
_DIGEST = "400 " + "The digest supplied does not match a digest calculated from the uploaded file."
#: A question left out, to keep a file away from an index that could store it.
_NOT_ASKED = "(not asked)"
_UNPREDICTED = "-"
#: Where an upload goes: the index's upload URL (the scratch stand-in's /legacy/).
_UPLOAD = "legacy/"
_SCRATCH_USER = "conformance"
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Case:
    """One question: what tokentool predicts, what the index answered, and whether they agree."""

    name: str
    predicted: str
    answer: str
    security: bool = False

    @property
    def as_predicted(self) -> bool:
        return self.answer == self.predicted

    def as_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "predicted": self.predicted,
            "answer": self.answer,
            "as_predicted": self.as_predicted,
        }


@dataclasses.dataclass(frozen=True)
class Report:
    """Every case asked, and why the run stopped early (``stopped``) if it did."""

    url: str
    project: str
    cases: tuple[Case, ...]
    stopped: str = ""
    requests: int = 0
    bytes: int = 0

    @property
    def exit_code(self) -> int:
        """4 SECURITY, 3 could not run, 1 a difference, 0 every answer as predicted."""
        if any(case.security for case in self.cases):
            return 4
        if self.stopped:
            return 3
        return 0 if all(case.as_predicted for case in self.cases) else 1

    def as_data(self) -> dict[str, Any]:
        return {"cases": [case.as_data() for case in self.cases]}

    @property
    def summary(self) -> str:
        if self.exit_code == 4:
            bad = ", ".join(c.name for c in self.cases if c.security)
            return _probe.security_line(f"a token it must refuse ({bad})")
        if self.stopped:
            return f"could not run: {self.stopped}"
        skipped = [c.name for c in self.cases if c.answer.startswith(_NOT_ASKED)]
        differ = [c.name for c in self.cases if not c.as_predicted and c.name not in skipped]
        if differ or skipped:
            text = f"{len(differ)} of {len(self.cases)} answers differ: {', '.join(differ)}"
            if skipped:
                text += f"; not asked (a file could be stored): {', '.join(skipped)}"
            return text
        return f"all {len(self.cases)} answers as predicted"


def format_table(report: Report) -> str:
    """The table: question, predicted, answer, as predicted (text already redacted, escaped)."""
    rows = [("question", "predicted", "answer", "as predicted")]
    for case in report.cases:
        mark = "SECURITY" if case.security else ("yes" if case.as_predicted else "NO")
        rows.append((case.name, case.predicted, case.answer, mark))
    width = max(len(r[0]) for r in rows)
    lines = []
    for name, predicted, answer, mark in rows:
        lines.append(f"{name:<{width}}  {mark}")
        if name != "question":
            lines.append(f"{'':<{width}}    predicted: {escape(predicted)}")
            lines.append(f"{'':<{width}}    answer:    {escape(answer)}")
    lines.append(report.summary)
    return "\n".join(lines)


def render(report: Report, *, as_json: bool = False) -> str:
    """What every face prints: ``format_table``, or ``{"cases": [...]}`` with ``as_json``."""
    if as_json:
        return json.dumps(report.as_data())
    return format_table(report)


class _Budget(Exception):
    """The request or byte budget is spent."""


class _Unreachable(Exception):
    """No answer came back; the message says why (no token in it)."""


@dataclasses.dataclass
class _Request:
    """One request, as bytes: sent to the index and to the scratch stand-in alike."""

    method: str
    path: str  # relative to the index root: _UPLOAD, "pypi/NAME/json", ...
    body: bytes = b""
    content_type: str = ""
    token: str | None = None
    accept: str | None = None


class _Index:
    """The index over HTTP, within the budget; answers are ``STATUS REASON`` (redacted)."""

    def __init__(self, dest: Destination, timeout: tuple[float, float], secrets: list[str]) -> None:
        self.root = _root(dest)
        self.upload_url = dest.url
        self.timeout = timeout
        self.secrets = secrets
        self.requests = 0
        self.bytes = 0
        self.session = _probe._session()

    def send(self, request: _Request) -> tuple[int, str, dict[str, str], bytes]:
        import requests

        if self.requests >= MAX_REQUESTS or self.bytes + len(request.body) > MAX_BYTES:
            raise _Budget
        self.requests += 1
        self.bytes += len(request.body)
        headers = {"Accept": request.accept} if request.accept else {}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        auth = ("__token__", request.token) if request.token is not None else None
        # POSTs go to the upload URL as given (pypiserver takes them at its root).
        url = self.upload_url if request.path == _UPLOAD else self.root + request.path
        try:
            response = self.session.request(
                request.method,
                url,
                data=request.body or None,
                headers=headers,
                auth=auth,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
            try:
                left = max(0, MAX_BYTES - self.bytes)
                body = response.raw.read(min(left, _probe.MAX_JSON) + 1, decode_content=True)
            except Exception:
                body = b""
            finally:
                response.close()
        except requests.RequestException as exc:
            raise _Unreachable(_probe.connection_problem(exc, url, self.timeout)) from None
        self.bytes += len(body or b"")
        reason = response.reason or ""
        if isinstance(reason, bytes):
            reason = reason.decode("latin-1")
        kept = {k.lower(): v for k, v in response.headers.items()}
        return int(response.status_code), clean(reason, self.secrets), kept, body or b""


class _Scratch:
    """The stand-in's own pipeline in this process, seeded with the index's context."""

    def __init__(self, data_dir: Path, root: str, stored: str, wheel: Path) -> None:
        from tokentool.index import Index
        from tokentool.index._app import IndexApp
        from tokentool.index._db import Database
        from tokentool.index.rules import Site

        self.index = Index(data_dir)
        self.token = self.index.mint(_SCRATCH_USER)
        self.db = Database(data_dir)
        self.app = IndexApp(self.db, Site(url=root.rstrip("/")))
        data = wheel.read_bytes()
        fields = dict(_probe._describe_file(stored, wheel).fields)
        fields["sha256_digest"] = hashlib.sha256(data).hexdigest()
        body, ctype = _multipart(fields, (wheel.name, data))
        status, reason = self.answer(_Request("POST", _UPLOAD, body, ctype, self.token))
        if status != 200:  # the bundled sample must be accepted by the stand-in
            raise ConfigError(f"the scratch stand-in refused the sample: {status} {reason}")

    def answer(self, request: _Request) -> tuple[int, str]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "PATH_INFO": "/" + request.path,
            "QUERY_STRING": "",
            "SERVER_NAME": "scratch",
            "SERVER_PORT": "80",
            "HTTP_HOST": "scratch",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": sys.stderr,
            "CONTENT_TYPE": request.content_type,
            "CONTENT_LENGTH": str(len(request.body)),
        }
        if request.token is not None:
            basic = base64.b64encode(f"__token__:{request.token}".encode()).decode()
            environ["HTTP_AUTHORIZATION"] = f"Basic {basic}"
        if request.accept:
            environ["HTTP_ACCEPT"] = request.accept
        seen: dict[str, str] = {}

        def start_response(status: str, _headers: list[tuple[str, str]]) -> None:
            seen["status"] = status

        b"".join(self.app(environ, start_response))
        code, _sep, reason = seen["status"].partition(" ")
        return int(code), reason

    def close(self) -> None:
        self.db.close()
        self.index.close()


def _multipart(fields: dict[str, str], file: tuple[str, bytes] | None) -> tuple[bytes, str]:
    from urllib3 import encode_multipart_formdata

    items: list[tuple[str, Any]] = list(fields.items())
    if file is not None:
        items.append(("content", (file[0], file[1], "application/octet-stream")))
    return encode_multipart_formdata(items)


def _without_record(wheel: Path, out: Path) -> Path:
    """``wheel`` minus its RECORD: refused at the RECORD check by any index that gets that far."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if not info.filename.endswith(".dist-info/RECORD"):
                dst.writestr(info, src.read(info))
    return out


def _root(dest: Destination) -> str:
    """The index's root (where ``/pypi/`` and ``/simple/`` are) beside its upload URL."""
    json_url = sites.json_api_url(dest, "x")
    return json_url[: -len("pypi/x/json")]


def _line(status: int, reason: str) -> str:
    return f"{status} {reason}".rstrip()


@contextmanager
def _workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tokentool-conformance-") as tmp:
        yield Path(tmp)


def conformance(
    repository_url: str,
    token: Token,
    project: str,
    *,
    allow_production: bool = False,
    allow_other_host: bool = False,
    timeout: tuple[float, float] = _probe.TIMEOUT,
    progress: Progress | None = None,
) -> Report:
    """Ask the index every question in ``QUESTIONS`` and compare with the predictions.

    The destination is checked as for every command (``sites.check_destination``);
    production pypi.org only with ``allow_production``.
    """
    say = progress or (lambda _line: None)
    tokentool.normalize_project(project)
    dest = sites.check_destination(
        token.domain, repository_url, allow_production=True, allow_other_host=allow_other_host
    )
    if dest.site == "pypi.org" and not allow_production:
        raise ConfigError(
            f"refusing to ask production pypi.org ({escape(dest.url)}) the conformance "
            "questions; pass --allow-production if you really mean it"
        )
    real = token.dump()
    secrets = [real]
    index = _Index(dest, timeout, secrets)
    cases: list[Case] = []
    stopped = ""
    try:
        with _workspace() as work:
            stopped = _ask(index, dest, token, project, work, cases, secrets, say)
    except _Budget:
        stopped = f"the budget of {MAX_REQUESTS} requests and {MAX_BYTES} bytes is spent"
    except _Unreachable as exc:
        stopped = str(exc)
    return Report(dest.url, project, tuple(cases), stopped, index.requests, index.bytes)


def _ask(
    index: _Index,
    dest: Destination,
    token: Token,
    project: str,
    work: Path,
    cases: list[Case],
    secrets: list[str],
    say: Progress,
) -> str:
    from tokentool.workflow import build_sample

    normalized = tokentool.normalize_project(project)
    # 1. The context: does the project exist, and under which stored name? Asked by
    # the normalized name: warehouse redirects any other spelling (one request saved).
    quoted = quote(normalized, safe="")
    status, reason, _headers, body = index.send(_Request("GET", f"pypi/{quoted}/json"))
    stored = _probe._info_name(body) if status == 200 else None
    if stored is not None and tokentool.normalize_project(stored) != normalized:
        stored = None  # another project's page: no context from it
    json_case = Case(
        "json-api",
        f"200 OK (info.name {stored!r})" if stored else f"200 OK (info.name of {normalized!r})",
        f"{_line(status, reason)} (info.name {stored!r})" if stored else _line(status, reason),
    )
    status, reason, headers, body = index.send(_Request("GET", f"simple/{quoted}/", accept=JSON_V1))
    try:
        data = json.loads(body.decode("utf-8"))
        name = data.get("name") if isinstance(data, dict) else None
    except (ValueError, RecursionError):
        name = None
    ctype = headers.get("content-type", "").split(";")[0].strip()
    simple_case = Case(
        "simple-json",
        f"200 OK {JSON_V1} (name {normalized!r})",
        clean(f"{_line(status, reason)} {ctype} (name {name!r})"),
    )
    if stored is None and status != 200:
        # Neither says the project exists: any upload could create it.
        return f"project {escape(repr(project))} does not exist on the index: " + (
            "conformance asks about an existing project only (an upload would create it)"
        )
    cases += [json_case, simple_case]
    stored = stored or project  # the simple page knows it; the words will quote this guess

    built = build_sample(stored, work / "dist")
    wheel = built.wheel
    say(f"built {built.project} {built.version}: {wheel.name} (sent with a wrong digest)")
    scratch = _Scratch(work / "scratch", index.root, stored, wheel)
    try:
        return _ask_uploads(index, scratch, token, project, stored, wheel, work, cases, secrets)
    finally:
        scratch.close()


def _ask_uploads(
    index: _Index,
    scratch: _Scratch,
    token: Token,
    project: str,
    stored: str,
    wheel: Path,
    work: Path,
    cases: list[Case],
    secrets: list[str],
) -> str:
    real = token.dump()
    macaroon = token._macaroon
    data = wheel.read_bytes()
    upload = _probe._describe_file(stored, wheel)
    bare = {k: upload.fields[k] for k in (":action", "protocol_version")}
    full_body, full_type = _multipart(upload.fields, (wheel.name, data))

    def ask(name: str, request: _Request, predicted: str, scratch_token: bool = False) -> Case:
        status, reason, _h, _b = index.send(request)
        answer = _line(status, reason)
        security = name in MUST_REFUSE and (200 <= status < 300 or answer.startswith(_DIGEST))
        case = Case(name, clean(predicted, secrets), answer, security)
        cases.append(case)
        return case

    def scratch_says(request: _Request) -> str:
        copy = dataclasses.replace(request, token=scratch.token if request.token else None)
        return _line(*scratch.answer(copy))

    # 2. Routing: no ``:action``, nothing else.
    body, ctype = _multipart({"protocol_version": "1"}, None)
    request = _Request("POST", _UPLOAD, body, ctype)
    ask("no-action", request, scratch_says(request))
    # 3. Identity, before the form is read; no file.
    body, ctype = _multipart(bare, None)
    request = _Request("POST", _UPLOAD, body, ctype)
    first = ask("no-credentials", request, scratch_says(request))
    stranger = _probe._unknown_token(macaroon)
    secrets.append(stranger)
    request = _Request("POST", _UPLOAD, body, ctype, stranger)
    second = ask("unknown-token", request, _line(*scratch.answer(request)))
    if not (first.answer.startswith("403 ") and second.answer.startswith("403 ")):
        for name in QUESTIONS[QUESTIONS.index("metadata-version") :]:
            cases.append(Case(name, _UNPREDICTED, _NOT_ASKED + ": identity not refused"))
        return ""
    # 4. Metadata, before the file and the project; the user's token, no file.
    fields = dict(upload.fields, metadata_version="2.0")
    body, ctype = _multipart(fields, None)
    request = _Request("POST", _UPLOAD, body, ctype, real)
    ask("metadata-version", request, scratch_says(request))
    # 5. The token's caveats and signature, at has_permission; wrong digest.
    now = int(time.time())
    verdict = token.evaluate(project, display_name=stored, at=now)
    broken = _probe._broken_signature(macaroon)
    secrets.append(broken)
    if verdict.refused:
        predicted = _line(verdict.status, verdict.message)
    else:
        predicted = "403 Invalid API Token: signatures do not match"
    ask("broken-signature", _Request("POST", _UPLOAD, full_body, full_type, broken), predicted)
    owner = next((r.user_id for r in token.restrictions if getattr(r, "user_id", None)), None)
    derived = {
        "other-project": tokentool.derive(
            token, project_names=[f"{project}-elsewhere"], ttl=900, now=now
        ),
        "expired": tokentool.derive(
            token, not_before=now - 7200, not_after=now - 3600, now=now, allow_unusable=True
        ),
        "not-yet-valid": tokentool.derive(
            token, not_before=now + 3600, not_after=now + 7200, now=now, allow_unusable=True
        ),
        "other-user": tokentool.derive(
            token, user_id=str(uuid.uuid4()), now=now, allow_unusable=True
        ),
    }
    for name, other in derived.items():
        raw = other.dump()
        secrets.append(raw)
        judged = other.evaluate(
            project, display_name=stored, at=now, user_id=owner or str(uuid.uuid4())
        )
        predicted = _line(judged.status, judged.message) if judged.refused else _DIGEST
        ask(name, _Request("POST", _UPLOAD, full_body, full_type, raw), predicted)
    # 6. The token passes; the digest is refused while the file is buffered.
    predicted = _line(verdict.status, verdict.message) if verdict.refused else _DIGEST
    ask("wrong-digest", _Request("POST", _UPLOAD, full_body, full_type, real), predicted)
    # 7. Only an index that answered everything as predicted gets a right digest.
    if verdict.refused or not all(case.as_predicted for case in cases):
        cases.append(Case("filename", _UNPREDICTED, _NOT_ASKED + ": an answer differed"))
        return ""
    from tokentool.workflow import build_sample

    other_name = f"{tokentool.normalize_project(project)}-elsewhere"
    misnamed = build_sample(other_name, work / "other", _version_of(wheel)).wheel
    misnamed = _without_record(misnamed, work / misnamed.name)
    content = misnamed.read_bytes()
    fields = dict(upload.fields, sha256_digest=hashlib.sha256(content).hexdigest())
    body, ctype = _multipart(fields, (misnamed.name, content))
    request = _Request("POST", _UPLOAD, body, ctype, real)
    ask("filename", request, scratch_says(request))
    return ""


def _version_of(wheel: Path) -> str:
    return wheel.name.split("-")[1]
