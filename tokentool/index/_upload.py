"""``POST /legacy/``: authenticate, validate and store one file, in warehouse's order.

Each refusal is an ``UploadError`` carrying the status and the exact reason
phrase; the rules themselves live in ``tokentool.index.rules``, authentication
and authorization in ``_auth.py``. Nothing is written until every check
passed; then the file is written under a hidden temporary name and linked to
its final name inside the transaction that records it (``_store.py``), so a
refused or failed upload leaves no project, row or served file.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import multipart
from packaging.utils import canonicalize_name, canonicalize_version

import tokentool
from tokentool.index import rules
from tokentool.index._db import Database, NewFile, NewRelease, ProjectRow, TokenRow, Tx
from tokentool.index._jsonapi import release_info
from tokentool.index._store import receive, wheel_metadata
from tokentool.index.rules import Duplicate, Lookups, Site, Upload, UploadError

log = logging.getLogger("tokentool.index")

MIB = 1024 * 1024
#: Test PyPI's defaults, as ``rules.Site`` holds them.
DEFAULT_MAX_UPLOAD = Site.max_upload_size
DEFAULT_NEW_PROJECT_LIMIT = Site.new_project_limit

__all__ = ["DEFAULT_MAX_UPLOAD", "DEFAULT_NEW_PROJECT_LIMIT", "UploadError", "Uploads"]


class _IdenticalReupload(Exception):
    """Roll the transaction back and answer 200: the file is already there, unchanged."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is uploading: the token's database row and the token as sent (caveats, chain)."""

    row: TokenRow
    token: tokentool.Token = dataclasses.field(repr=False)


class Uploads:
    """The upload view; one instance serves every worker thread (state lives in SQLite)."""

    def __init__(self, db: Database, settings: Site) -> None:
        self.db = db
        self.settings = settings

    # -- the view ---------------------------------------------------------------
    def handle(self, environ: Mapping[str, Any]) -> None:
        """Raise ``UploadError`` to refuse; return to answer 200.

        Warehouse's order: route on ``:action``, ``sanitize`` (tuples), the
        identity, then ``file_upload``.
        """
        parts: list[multipart.MultipartPart] = []
        try:
            forms, files, tupled = self._parse(environ, parts)
            # route predicates run before the view's decorators
            _route(environ, forms, self.settings.forklift_domain)
            if tupled:  # sanitize: a file part under a field's name
                raise UploadError(400, f"{tupled}: Should not be a tuple.")
            identity = self.authenticate(environ.get("HTTP_AUTHORIZATION"))
            # file_upload: "We require protocol_version 1"
            if forms.get("protocol_version", ["1"])[-1] != "1":  # POST.get: the last
                raise UploadError(400, "Unknown protocol version.")
            self._judge(identity, forms, files)
        finally:
            for part in parts:  # spooled temporary files: close now, not at GC
                part.close()

    def _judge(
        self,
        identity: Identity,
        forms: dict[str, list[str]],
        files: dict[str, multipart.MultipartPart],
    ) -> None:
        """``file_upload``'s order; each stage's rules live in ``tokentool.index.rules``."""
        up = Upload(site=self.settings, fields=forms)
        up.form = form = rules.validate_upload_form(forms)
        up.meta = meta = rules.validate_metadata(forms)
        content = files.get("content")
        if content is None:
            raise UploadError(400, "Upload payload does not have a file.")
        normalized = canonicalize_name(form.name)
        project = self.db.reader().project(normalized)
        up.project_name, up.normalized = (project.name if project else form.name), normalized
        up.lookups = self._lookups(project)
        if project is None:
            from tokentool.index._auth import ensure_user_can_upload

            ensure_user_can_upload(identity, self.settings.url)  # before creating: warehouse
            # ProjectService.create_project: rate-limit test, name checks, then the hit,
            # recorded for good even when this upload is refused afterwards.
            self._check_new_project_rate(self.db.reader(), identity)
            rules.apply(rules.NAME_RULES, up)
            self._hit_new_project_rate(identity)
        self._authorize(identity, form.name, project, self.db.reader())
        # "Update name if it differs but is still equivalent": later messages use it.
        up.project_name = meta.name
        rules.apply(rules.RELEASE_RULES, up)
        self._store(identity, up, content, project)

    def _lookups(self, project: ProjectRow | None) -> Lookups:
        """The database questions rules ask, bound to this upload's project."""
        pid = project.id if project else None
        reader = self.db.reader
        return Lookups(
            project_exists=lambda normalized: reader().project(normalized) is not None,
            project_names=lambda: reader().display_names(),
            conflicting_file=lambda name, blake2: reader().conflicting_file(name, blake2),
            filename_deleted=lambda name: reader().filename_deleted(name),
            release_created=lambda v: reader().release_created(pid, v) if pid else None,
            has_sdist=lambda v: reader().has_sdist(pid, v) if pid else False,
        )

    # -- authentication (warehouse's security policies: tokentool/index/_auth.py) --
    def authenticate(self, header: str | None) -> Identity:
        from tokentool.index import _auth

        return _auth.authenticate(header, self.db.reader(), self.settings.url)

    # -- form -------------------------------------------------------------------
    def _parse(
        self, environ: Mapping[str, Any], parts: list[multipart.MultipartPart]
    ) -> tuple[dict[str, list[str]], dict[str, multipart.MultipartPart], str | None]:
        limit = self.settings.max_upload_size
        try:
            # latin-1 decodes any bytes; _utf8 then reads them as webob's
            # cgi.FieldStorage(encoding="utf8") does, errors="replace": a field
            # that is not UTF-8 gets U+FFFD on the site, not a refusal.
            raw_forms, raw_files = multipart.parse_form_data(
                dict(environ),
                charset="latin1",
                strict=True,
                ignore_errors=False,
                part_limit=512,
                memory_limit=16 * MIB,
                spool_limit=256 * 1024,
                disk_limit=limit + 16 * MIB,
                partsize_limit=limit + 16 * MIB,
            )
        except ValueError:  # MultipartError, and UnicodeDecodeError for a declared charset
            raise UploadError(400, "Invalid multipart form data.") from None
        for key in raw_files:
            parts.extend(raw_files.getall(key))
        texts: dict[str, list[str]] = {}
        for key in raw_forms:
            texts[_utf8(key)] = [_utf8(value) for value in raw_forms.getall(key)]
        uploads: dict[str, list[multipart.MultipartPart]] = {}
        for key in raw_files:
            for part in raw_files.getall(key):
                if part.filename is None:  # a text field too big to keep in memory
                    texts.setdefault(_utf8(key), []).append(part.raw.decode("utf-8", "replace"))
                else:
                    uploads.setdefault(_utf8(key), []).append(part)
        forms: dict[str, list[str]] = {}
        for key, values in texts.items():
            # warehouse/forklift/decorators.py sanitize reads request.POST.get(key),
            # webob's LAST value: distutils' "UNKNOWN" there deletes every value of
            # the key, a NUL there replaces them all by that one value, escaped;
            # earlier values are left as they are (odd, reproduced).
            if values[-1].strip() == "UNKNOWN":
                continue
            if "\x00" in values[-1]:
                values = [values[-1].replace("\x00", "\\x00")]
            forms[key] = values
        files: dict[str, multipart.MultipartPart] = {}
        tupled = None
        for key in sorted(uploads):
            if key not in ("content", "gpg_signature"):
                tupled = tupled or key
                continue
            part = uploads[key][-1]  # request.POST["content"]: webob's last
            part.filename, part.content_type = _webob_view(part)
            files[key] = part
        return forms, files, tupled

    # -- authorization ----------------------------------------------------------
    def _check_new_project_rate(self, tx: Tx, identity: Identity) -> None:
        """``_check_ratelimits``: the user's hits in the window (projects created, or
        names that passed the checks and were rolled back later)."""
        limit = self.settings.new_project_limit
        since = time.time() - self.settings.new_project_window
        if limit and tx.project_creations_since(identity.row.user_id, since) >= limit:
            raise UploadError(429, "Too many new projects created")

    def _hit_new_project_rate(self, identity: Identity) -> None:
        """``_hit_ratelimits``: count this creation in its own transaction, so a refusal
        later in the upload (scope, file) rolls the project back but not the hit."""
        limit = self.settings.new_project_limit
        since = time.time() - self.settings.new_project_window
        with self.db.transaction(scope=[f"user:{identity.row.user_id}"]) as tx:
            tx.record_project_creation(identity.row.user_id)
            hits = tx.project_creations_since(identity.row.user_id, since)
        if limit and hits > limit:
            raise UploadError(429, "Too many new projects created")

    def _authorize(
        self, identity: Identity, typed_name: str, project: ProjectRow | None, tx: Tx
    ) -> None:
        from tokentool.index import _auth

        _auth.authorize(identity, typed_name, project, tx, self.settings.url)

    # -- the file ---------------------------------------------------------------
    def _store(
        self,
        identity: Identity,
        up: Upload,
        content: multipart.MultipartPart,
        known: ProjectRow | None,
    ) -> None:
        """``known``: the project as judged (None: this upload creates it)."""
        form, meta = up.form, up.meta
        assert form is not None and meta is not None
        up.filename = content.filename or ""
        up.content_type = content.content_type
        up.size = content.size
        up.project_total_size = self.db.reader().project_size(known.id) if known else 0
        rules.apply(rules.BEFORE_CONTENT, up)
        filename = up.filename
        storage = self.db.storage
        temp, up.hashes, size = receive(content.file, storage.spool)
        up.path = temp
        published = False
        try:
            metadata = None
            try:
                rules.apply(rules.AFTER_CONTENT, up)
            except Duplicate:
                pass  # warehouse answers 200; here only once authorized in the transaction
            else:
                if form.filetype == "bdist_wheel":
                    metadata = wheel_metadata(temp, filename)
            with self.db.transaction(
                before_lock=lambda tx: storage.stage(tx, temp), scope=[f"project:{up.normalized}"]
            ) as tx:
                # Identity and role again, under the write lock: a token revoked or a
                # project created by someone else since the first look counts. (The
                # new-project rate-limit hit was recorded at the first look.)
                if not tx.token_exists(identity.row.id):
                    from tokentool.index._auth import invalid_auth

                    raise invalid_auth(self.settings.url)
                project = tx.project(up.normalized)
                if project is None:
                    project = tx.create_project(form.name, up.normalized, identity.row.user_id)
                else:
                    self._authorize(identity, form.name, project, tx)
                if project.name != meta.name:
                    tx.rename_project(project.id, meta.name)
                if self._is_duplicate(tx, filename, up.hashes):
                    # warehouse: request.tm.doom(), then 200: a project created just
                    # now for an identical re-upload is rolled back with the rest.
                    raise _IdenticalReupload
                canonical = canonicalize_version(meta.version)
                if form.filetype == "sdist" and tx.has_sdist(project.id, canonical):
                    raise UploadError(400, "Only one sdist may be uploaded per release.")
                tx.ensure_release(
                    NewRelease(
                        project_id=project.id,
                        version=str(meta.version),
                        canonical_version=canonical,
                        requires_python=str(meta.requires_python) if meta.requires_python else None,
                        is_prerelease=meta.version.is_prerelease,
                        info=release_info(meta),
                    )
                )
                tx.add_file(
                    NewFile(
                        project_id=project.id,
                        version=str(meta.version),
                        canonical_version=canonical,
                        packagetype=form.filetype,
                        filename=filename,
                        size=size,
                        md5_digest=up.hashes["md5"],
                        sha256_digest=up.hashes["sha256"],
                        blake2_256_digest=up.hashes["blake2_256"],
                        uploaded_by=identity.row.user_id,
                        python_version=form.pyversion or None,
                        metadata=metadata,
                    )
                )
                storage.publish(tx, temp, filename)
                published = True
        except _IdenticalReupload:
            return
        except BaseException:
            if published:  # linked, then the commit failed: the name goes with the row
                storage.discard(filename)
            raise
        finally:
            temp.unlink(missing_ok=True)

    def _is_duplicate(self, tx: Tx, filename: str, hashes: Mapping[str, str]) -> bool:
        """Inside the transaction, against a concurrent upload: the rule again."""
        up = Upload(site=self.settings, fields={}, filename=filename, hashes=hashes)
        up.lookups = Lookups(conflicting_file=tx.conflicting_file)
        try:
            rules.files.not_duplicate(up)
        except Duplicate:
            return True
        return False


def _utf8(text: str) -> str:
    """Latin-1-decoded bytes read again as UTF-8, as ``cgi.FieldStorage`` reads them.

    (A body whose Content-Type names its own charset was decoded with that one.)"""
    try:
        return text.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text


def _webob_view(part: multipart.MultipartPart) -> tuple[str | None, str]:
    """The file name and type as warehouse reads them: webob's ``cgi.FieldStorage``
    takes the ``filename`` parameter of ``Content-Disposition`` through
    ``cgi.parse_header``, which only unescapes ``\\\\`` and ``\\"``, and the type
    as written before any ``;`` (case kept, "" for an empty header, "text/plain"
    when there is none). ``multipart`` would decode ``%0A``/``%0D``/``%22``, cut a
    ``C:\\...`` path to its last part (IE6 fixes) and lower-case or default the
    type, so ``Image/PNG`` or an empty type would be judged otherwise."""
    headers: dict[str, str] = {}
    for header, value in part.headerlist:
        headers.setdefault(header.lower(), _utf8(value))  # email.message: the first one
    filename = part.filename
    if "content-disposition" in headers:
        filename = _cgi_parse_header(headers["content-disposition"])[1].get("filename", filename)
    if "content-type" not in headers:
        return filename, "text/plain"  # cgi's default inside a multipart body
    return filename, _cgi_parse_header(headers["content-type"])[0]


def _cgi_parse_header(line: str) -> tuple[str, dict[str, str]]:
    """``cgi.parse_header`` (``_parseparam``): split on ``;`` outside quotes, the
    first part as it is, then parameters with ``"..."`` unquoted, the last of a
    repeated key winning."""
    params: dict[str, str] = {}
    rest = ";" + line
    key: str | None = None
    while rest[:1] == ";":
        rest = rest[1:]
        end = rest.find(";")
        while end > 0 and (rest.count('"', 0, end) - rest.count('\\"', 0, end)) % 2:
            end = rest.find(";", end + 1)
        if end < 0:
            end = len(rest)
        item, rest = rest[:end].strip(), rest[end:]
        if key is None:  # the value itself (disposition, type)
            key = item
            continue
        i = item.find("=")
        if i >= 0:
            value = item[i + 1 :].strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
            params[item[:i].strip().lower()] = value
    return key or "", params


# warehouse's route predicates: ``:action`` (from the query or the form) picks the view.
_GONE = {
    "submit": "Project pre-registration is no longer required or supported, "
    "upload your files instead.",
    "submit_pkg_info": "Project pre-registration is no longer required or supported, "
    "upload your files instead.",
    "doc_upload": "Uploading documentation is no longer supported, we recommend using "
    "https://readthedocs.org/.",
}


def _route(
    environ: Mapping[str, Any], forms: Mapping[str, list[str]], forklift: str | None = None
) -> None:
    """``warehouse/forklift/__init__.py``: file_upload, or the 410 views.

    A POST with no or an unknown ``:action`` matches no view: 404 where no
    forklift domain is configured. With one (``Site.forklift_domain``, as on
    upload.pypi.org) the upload routes match that host only
    (``DomainPredicate``: ``is_same_domain``), and there the catch-all
    ``forklift.legacy.invalid_request`` template view, restricted to GET, HEAD
    and OPTIONS by ``csrf.require_method_view``, answers the POST 405.
    """
    from urllib.parse import parse_qs

    # request.params.get(":action"): the query's last value if it has one (blank
    # included), else the form's last.
    query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
    actions = query.get(":action") or forms.get(":action") or []
    action = actions[-1] if actions else ""
    if forklift is not None and not _same_domain(_request_domain(environ), forklift):
        raise UploadError(404, "Not Found")  # no forklift route on this host
    if action in _GONE:
        raise UploadError(410, _GONE[action])
    if action != "file_upload":
        raise UploadError(404 if forklift is None else 405, _NO_ROUTE[forklift is not None])


_NO_ROUTE = {False: "Not Found", True: "Method Not Allowed"}


def _request_domain(environ: Mapping[str, Any]) -> str:
    """webob's ``request.domain``: the Host header without its port."""
    host = str(environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "")
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _same_domain(host: str, pattern: str) -> bool:
    """``pyramid.util.is_same_domain``: exact (case-insensitive), or ``.example`` and below."""
    host, pattern = host.lower(), pattern.lower()
    if pattern.startswith("."):
        return host.endswith(pattern) or host == pattern[1:]
    return host == pattern
