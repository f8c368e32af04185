"""``POST /legacy/``: authenticate, validate and store one file, in warehouse's order.

``Uploads.handle`` parses the form, routes, authenticates, and then applies
``PIPELINE``: ``file_upload``'s stages, one row per rule, in warehouse's
order (``warehouse/forklift/legacy.py``). Each refusal is an ``UploadError``
carrying the status and the exact reason phrase; an identical re-upload
raises ``Duplicate`` and answers 200 at once, as warehouse does. The rules
live in ``tokentool.index.rules``; the rows here are the stages that ask the
database or the token (the project, the rate limit, the scope, receiving the
file, recording it). Nothing is written until every check passed; then the
file is linked to its final name inside the transaction that records it
(``_store.py``), and that transaction asks again everything the first look
decided, so a lost race is refused, never recorded.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import multipart
from packaging.utils import canonicalize_name, canonicalize_version

from tokentool.index import _auth, rules
from tokentool.index._db import Database, NewFile, NewRelease, ProjectRow, Tx
from tokentool.index._jsonapi import description_bytes, release_info
from tokentool.index._store import METADATA_SUFFIX, receive
from tokentool.index._types import MIB, Duplicate, Identity, UploadError
from tokentool.index.rules import (
    Lookups,
    Rule,
    Site,
    Upload,
    _workers,
    archives,
    description,
    files,
    malware,
    names,
)
from tokentool.token import INTERNAL_ERROR

log = logging.getLogger("tokentool.index")

#: Test PyPI's defaults, as ``rules.Site`` holds them.
DEFAULT_MAX_UPLOAD = Site.max_upload_size
DEFAULT_NEW_PROJECT_LIMIT = Site.new_project_limit

__all__ = [
    "DEFAULT_MAX_UPLOAD",
    "DEFAULT_NEW_PROJECT_LIMIT",
    "MIB",
    "PIPELINE",
    "Identity",
    "UploadError",
    "Uploads",
]


class _IdenticalReupload(Exception):
    """Roll the transaction back and answer 200: the file is already there, unchanged."""


# -- the stages that are not rules of their own ---------------------------------------
def protocol_version(up: Upload) -> None:
    """file_upload: "We require protocol_version 1" (``POST.get``: the last value)."""
    if up.fields.get("protocol_version", ["1"])[-1] != "1":
        raise UploadError(400, "Unknown protocol version.")


def upload_form(up: Upload) -> None:
    up.form = rules.validate_upload_form(up.fields)


def core_metadata(up: Upload) -> None:
    up.meta = rules.validate_metadata(up.fields)


def has_file(up: Upload) -> None:
    if up.content is None:
        raise UploadError(400, "Upload payload does not have a file.")


def find_project(up: Upload) -> None:
    """The project as stored (its display name is what later messages quote)."""
    assert up.form is not None
    up.normalized = canonicalize_name(up.form.name)
    up.project = up.lookups.project(up.normalized)
    up.project_name = up.project.name if up.project else up.form.name


def _new_project_only(rule: Rule) -> Rule:
    """``ProjectService.create_project``'s checks run only when the project is new."""

    def run(up: Upload) -> None:
        if up.project is None:
            rule(up)

    run.__name__ = rule.__name__
    return run


def can_create(up: Upload) -> None:
    """``_ensure_user_can_upload`` before creating, then ``_check_ratelimits``: the
    user's hits in the window (projects created, or names that passed the checks
    and were rolled back later)."""
    assert up.identity is not None
    _auth.ensure_user_can_upload(up.identity, up.site.url)
    limit = up.site.new_project_limit
    since = time.time() - up.site.new_project_window
    if limit and up.lookups.project_creations_since(up.identity.row.user_id, since) >= limit:
        raise UploadError(429, "Too many new projects created")


def count_creation(up: Upload) -> None:
    """``_hit_ratelimits``: counted in its own transaction, so a refusal later in the
    upload (scope, file) rolls the project back but not the hit."""
    assert up.identity is not None
    limit = up.site.new_project_limit
    since = time.time() - up.site.new_project_window
    hits = up.lookups.hit_project_creation(up.identity.row.user_id, since)
    if limit and hits > limit:
        raise UploadError(429, "Too many new projects created")


def authorized(up: Upload) -> None:
    """``MacaroonSecurityPolicy.permits`` and ``_ensure_user_can_upload`` (``_auth``)."""
    assert up.identity is not None and up.form is not None
    up.lookups.authorize(up.identity, up.form.name, up.project)


def follow_spelling(up: Upload) -> None:
    """ "Update name if it differs but is still equivalent": later messages use it."""
    assert up.meta is not None
    up.project_name = up.meta.name


def file_facts(up: Upload) -> None:
    """``request.POST["content"]``: its name, type and size, and the project's total."""
    assert up.content is not None
    up.filename = up.content.filename or ""
    up.content_type = up.content.content_type
    up.size = up.content.size
    up.project_total_size = up.lookups.project_size(up.project.id) if up.project else 0


def receive_file(up: Upload) -> None:
    """Buffer the file onto disk (a hidden temporary name in this process's spool),
    hashing it on the way."""
    assert up.content is not None
    up.path, up.hashes, up.size = receive(up.content.file, up.lookups.spool())


def record(up: Upload) -> None:
    """Every check passed: record the file in one transaction (``Uploads.record``)."""
    up.lookups.record(up)


#: ``file_upload``'s order, one row per rule: the whole upload after the identity.
#: Adding a rule: write it in its module under ``rules/`` (naming the warehouse
#: function it follows) and add its row here, where warehouse checks it.
PIPELINE: tuple[Rule, ...] = (
    # the form, then the metadata (every error collected, the first field's named)
    protocol_version,
    upload_form,
    core_metadata,
    has_file,
    # the project: created only once every check passed, in ``record``
    find_project,
    _new_project_only(can_create),
    _new_project_only(names.valid_name),  # check_project_name, in its order
    _new_project_only(names.not_stdlib),
    _new_project_only(names.not_existing),
    _new_project_only(names.not_prohibited),
    _new_project_only(names.not_too_similar),
    _new_project_only(count_creation),
    authorized,
    follow_spelling,
    # "Render our description" (off the server's GIL, with a budget: rules/_workers.py)
    description.description_renders,
    # the file as announced
    file_facts,
    files.filename_characters,  # _validate_filename
    files.filename_separators,
    files.filename_extension,
    files.content_type,
    files.filename_length,  # open(tmpdir/filename): 500 past NAME_MAX
    files.file_size,  # while streaming, the file's limit first in each chunk
    files.project_size,
    receive_file,
    # the file as received
    files.digests_match,
    files.not_duplicate,  # identical: Duplicate, 200 at once
    files.filename_not_reused,
    files.release_still_open,
    files.one_sdist_per_release,
    archives.valid_dist_file,  # _is_valid_dist_file: WHEEL/PKG-INFO read through,
    malware.no_encrypted_code,  # then warehouse's YARA rules (utils/scanner.py),
    archives.zip_framing,  # then a zip's framing: the rest of the function
    files.sdist_filename,
    files.sdist_license_files,
    files.wheel_filename,
    files.wheel_only(archives.wheel_license_files),
    files.wheel_only(archives.wheel_record),
    files.wheel_only(archives.wheel_entry_points),
    files.wheel_only(archives.wheel_metadata),
    files.no_attestations_with_api_token,
    record,
)


class Uploads:
    """The upload view; one instance serves every worker thread (state lives in SQLite)."""

    def __init__(self, db: Database, settings: Site) -> None:
        self.db = db
        self.settings = settings
        self._budget = _workers.Budget(
            workers=settings.validator_workers,
            seconds=settings.validator_seconds,
            memory=settings.validator_memory,
        )

    # -- the view ---------------------------------------------------------------
    def handle(self, environ: Mapping[str, Any]) -> None:
        """Raise ``UploadError`` to refuse; return to answer 200.

        Warehouse's order: route on ``:action``, ``sanitize`` (tuples), the
        identity, then ``file_upload`` (``PIPELINE``).
        """
        parts: list[multipart.MultipartPart] = []
        up: Upload | None = None
        try:
            forms, uploaded, tupled = self._parse(environ, parts)
            # route predicates run before the view's decorators
            _route(environ, forms, self.settings.forklift_domain)
            if tupled:  # sanitize: a file part under a field's name
                raise UploadError(400, f"{tupled}: Should not be a tuple.")
            identity = self.authenticate(environ.get("HTTP_AUTHORIZATION"))
            up = Upload(site=self.settings, fields=forms, identity=identity)
            up.content = uploaded.get("content")
            up.lookups = self._lookups()
            with _workers.budget(self._budget):
                rules.apply(PIPELINE, up)
        except Duplicate:
            return  # warehouse: request.tm.doom(); return HTTPOk()
        finally:
            if up is not None:
                for leftover in (up.path, up.metadata_path):
                    if leftover is not None:
                        leftover.unlink(missing_ok=True)
            for part in parts:  # spooled temporary files: close now, not at GC
                part.close()

    def _lookups(self) -> Lookups:
        """What the rows may ask or do: the database's answers, latest commit each."""
        reader = self.db.reader
        site = self.settings.url

        def project_exists(normalized: str) -> bool:
            return reader().project(normalized) is not None

        return Lookups(
            project=lambda normalized: reader().project(normalized),
            project_exists=project_exists,
            project_names=lambda: reader().display_names(),
            project_creations_since=lambda user, since: reader().project_creations_since(
                user, since
            ),
            hit_project_creation=self._hit_project_creation,
            authorize=lambda identity, typed, project: _auth.authorize(
                identity, typed, project, reader(), site
            ),
            project_size=lambda pid: reader().project_size(pid),
            spool=lambda: self.db.storage.spool,
            conflicting_file=lambda name, blake2: reader().conflicting_file(name, blake2),
            filename_deleted=lambda name: reader().filename_deleted(name),
            release_created=lambda pid, v: reader().release_created(pid, v),
            has_sdist=lambda pid, v: reader().has_sdist(pid, v),
            record=self.record,
        )

    def _hit_project_creation(self, user_id: str, since: float) -> int:
        with self.db.transaction(scope=[f"user:{user_id}"]) as tx:
            tx.record_project_creation(user_id)
            return tx.project_creations_since(user_id, since)

    # -- authentication (warehouse's security policies: tokentool/index/_auth.py) --
    def authenticate(self, header: str | None) -> Identity:
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
            if _UNKNOWN.fullmatch(values[-1]):  # value.strip() == "UNKNOWN", without a copy
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

    # -- recording (the last row of PIPELINE) -----------------------------------
    def record(self, up: Upload) -> None:
        """One transaction, under the project's lock (``scope``: uploads to other
        projects commit in parallel): everything the first look decided is asked
        again (token, project, role, duplicate, deleted name, sdist), so an upload
        that lost a race against ``index delete``, a project deletion or a
        concurrent upload is refused, never recorded. Then the rows, the journal,
        and the file's final name (the PEP 658 metadata file beside it). Storing
        the content (``Storage.stage``: the database's rows, when it holds the
        files) is done before the lock is taken."""
        storage = self.db.storage
        published: list[str] = []

        def stage(tx: Tx) -> None:
            storage.stage(tx, [p for p in (up.path, up.metadata_path) if p is not None])

        try:
            with self.db.transaction(before_lock=stage, scope=[f"project:{up.normalized}"]) as tx:
                self._identity_still_valid(tx, up)
                project = self._project_for_record(tx, up)
                self._file_still_new(tx, up, project)
                is_new_release = self._record_release(tx, up, project)
                self._record_file(tx, up, project)
                self._journal(tx, up, project, is_new_release)
                self._publish(tx, up, published)
        except _IdenticalReupload:
            return
        except BaseException:
            for name in published:  # published, then the commit failed: the names go too
                storage.discard(name)
            raise

    def _identity_still_valid(self, tx: Tx, up: Upload) -> None:
        """A token revoked since the first look counts (the rate-limit hit stays)."""
        assert up.identity is not None
        identifier = up.identity.row.id
        # One statement as a rule: the update finds the row. Only when it does not (a
        # revocation, or a concurrent upload with this token holding the row) is the
        # row looked for.
        if not tx.token_used(identifier) and not tx.token_exists(identifier):
            raise _auth.invalid_auth(self.settings.url)

    def _project_for_record(self, tx: Tx, up: Upload) -> ProjectRow:
        """The project the first look judged, still there and still the uploader's."""
        assert up.form is not None and up.meta is not None and up.identity is not None
        project = tx.project(up.normalized)
        if up.project is not None and (project is None or project.id != up.project.id):
            raise _lost_race(f"project {up.normalized!r} was deleted during the upload")
        if project is None:
            project = tx.create_project(up.form.name, up.normalized, up.identity.row.user_id)
            tx.journal(up.normalized, None, "create", up.identity.row.username)
        else:  # the role again (and a project someone else created meanwhile)
            _auth.authorize(up.identity, up.form.name, project, tx, self.settings.url)
        if project.name != up.meta.name:
            tx.rename_project(project.id, up.meta.name)
        return project

    def _file_still_new(self, tx: Tx, up: Upload, project: ProjectRow) -> None:
        """``not_duplicate``, ``filename_not_reused`` and one sdist per release, again."""
        assert up.form is not None and up.meta is not None
        again = Upload(site=self.settings, fields={}, filename=up.filename, hashes=up.hashes)
        again.lookups = Lookups(conflicting_file=tx.conflicting_file)
        try:
            files.not_duplicate(again)
        except Duplicate:
            # warehouse: request.tm.doom(), then 200: a project created just now
            # for an identical re-upload is rolled back with the rest.
            raise _IdenticalReupload from None
        if tx.filename_deleted(up.filename):
            raise _lost_race(f"{up.filename!r} was deleted during the upload")
        canonical = canonicalize_version(up.meta.version)
        if up.form.filetype == "sdist" and tx.has_sdist(project.id, canonical):
            raise UploadError(400, "Only one sdist may be uploaded per release.")

    def _record_release(self, tx: Tx, up: Upload, project: ProjectRow) -> bool:
        """The first file of a release records its metadata; True if it is new."""
        meta = up.meta
        assert meta is not None
        return tx.ensure_release(
            NewRelease(
                project_id=project.id,
                version=str(meta.version),
                canonical_version=canonicalize_version(meta.version),
                requires_python=str(meta.requires_python) if meta.requires_python else None,
                is_prerelease=meta.version.is_prerelease,
                info=release_info(meta),
                description=description_bytes(meta),
            )
        )

    def _record_file(self, tx: Tx, up: Upload, project: ProjectRow) -> None:
        assert up.form is not None and up.meta is not None and up.identity is not None
        tx.add_file(
            NewFile(
                project_id=project.id,
                version=str(up.meta.version),
                canonical_version=canonicalize_version(up.meta.version),
                packagetype=up.form.filetype,
                filename=up.filename,
                size=up.size,
                md5_digest=up.hashes["md5"],
                sha256_digest=up.hashes["sha256"],
                blake2_256_digest=up.hashes["blake2_256"],
                uploaded_by=up.identity.row.user_id,
                python_version=up.form.pyversion or None,
                metadata_hashes=up.metadata_hashes,
            )
        )

    def _journal(self, tx: Tx, up: Upload, project: ProjectRow, is_new_release: bool) -> None:
        """file_upload's JournalEntry rows: the serials only go up."""
        assert up.meta is not None and up.form is not None and up.identity is not None
        who = up.identity.row.username
        version = str(up.meta.version)
        if is_new_release:
            tx.journal(up.normalized, version, "new release", who)
        python = up.form.pyversion or None
        tx.journal(up.normalized, version, f"add {python} file {up.filename}", who)

    def _publish(self, tx: Tx, up: Upload, published: list[str]) -> None:
        """Give the file (and its PEP 658 metadata file) their final names in storage;
        each name goes into ``published`` as soon as it exists, to be removed if the
        commit fails."""
        assert up.path is not None
        storage = self.db.storage
        if up.metadata_path is not None:
            name = up.filename + METADATA_SUFFIX
            storage.publish(tx, up.metadata_path, name)
            published.append(name)
        storage.publish(tx, up.path, up.filename)
        published.append(up.filename)


def _lost_race(why: str) -> UploadError:
    """A lost race is refused with warehouse's answer to one: its transaction fails
    at commit (``file_registry``'s unique filename, a release whose project is gone:
    an IntegrityError nobody catches), which is a 500."""
    log.warning("POST /legacy/ lost a race: %s; refused, nothing recorded", why)
    return UploadError(500, INTERNAL_ERROR)


#: ``str.strip()``'s whitespace is ``\s`` (both are ``Py_UNICODE_ISSPACE``).
_UNKNOWN = re.compile(r"\s*UNKNOWN\s*")


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
