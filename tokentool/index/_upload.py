"""``POST /legacy/``: authenticate, validate and store one file, in warehouse's order.

Each refusal is an ``UploadError`` carrying the status and the exact reason
phrase. Nothing is written until every check passed; then the file is written
under a hidden temporary name, renamed into the package folder and recorded in
one transaction, so a refused or failed upload leaves no project, row or file.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import multipart
from packaging.utils import canonicalize_name, canonicalize_version

import tokentool
from tokentool.index import rules
from tokentool.index._db import Database, NewFile, ProjectRow, TokenRow, Tx
from tokentool.index.rules import Duplicate, Lookups, Site, Upload, UploadError

log = logging.getLogger("tokentool.index")

MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD = 100 * MIB
DEFAULT_NEW_PROJECT_LIMIT = 20
_CHUNK = MIB


#: The site settings (Test PyPI's defaults); ``rules.Site`` under its old name.
Settings = Site

__all__ = ["DEFAULT_MAX_UPLOAD", "DEFAULT_NEW_PROJECT_LIMIT", "Settings", "UploadError", "Uploads"]


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is uploading: the token's database row and the token as sent (caveats, chain)."""

    row: TokenRow
    token: tokentool.Token = dataclasses.field(repr=False)


class Uploads:
    """The upload view; one instance serves every worker thread (state lives in SQLite)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- messages -------------------------------------------------------------
    def _help(self, anchor: str) -> str:
        return f"{self.settings.site}/help/#{anchor}"

    def _invalid_auth(self) -> UploadError:
        return UploadError(
            403,
            "Invalid or non-existent authentication information. "
            f"See {self._help('invalid-auth')} for more information.",
        )

    # -- the view ---------------------------------------------------------------
    def handle(self, environ: Mapping[str, Any]) -> None:
        """Raise ``UploadError`` to refuse; return to answer 200.

        Warehouse's order: route on ``:action``, ``sanitize`` (tuples), the
        identity, then ``file_upload``.
        """
        parts: list[multipart.MultipartPart] = []
        try:
            forms, files = self._parse(environ, parts)
            _route(environ, forms)
            identity = self.authenticate(environ.get("HTTP_AUTHORIZATION"))
            # file_upload: "We require protocol_version 1"
            if forms.get("protocol_version", ["1"])[0] != "1":
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
            project_names=lambda: reader().project_names(),
            conflicting_file=lambda name, blake2: reader().conflicting_file(name, blake2),
            filename_deleted=lambda name: reader().filename_deleted(name),
            release_created=lambda v: reader().release_created(pid, v) if pid else None,
            has_sdist=lambda v: reader().has_sdist(pid, v) if pid else False,
        )

    # -- authentication ---------------------------------------------------------
    def authenticate(self, header: str | None) -> Identity:
        if not header:
            raise self._invalid_auth()
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise self._invalid_auth() from None
            username, sep, raw = decoded.partition(":")
            if not sep:
                raise self._invalid_auth()
            if username != "__token__":
                raise UploadError(
                    403,
                    "Username/Password authentication is no longer supported. Migrate to API "
                    "Tokens or Trusted Publishers instead. See "
                    f"{self._help('apitoken')} and {self._help('trusted-publishers')}",
                )
        elif scheme in ("token", "bearer"):
            raw = value
        else:
            raise self._invalid_auth()
        try:
            token = tokentool.load(raw, strict=False)
            identifier = str(uuid.UUID(token.identifier))
        except (tokentool.TokenError, ValueError, TypeError):
            raise self._invalid_auth() from None
        row = self.db.reader().token(identifier)
        if row is None:
            raise self._invalid_auth()
        return Identity(row, token)

    # -- form -------------------------------------------------------------------
    def _parse(
        self, environ: Mapping[str, Any], parts: list[multipart.MultipartPart]
    ) -> tuple[dict[str, list[str]], dict[str, multipart.MultipartPart]]:
        limit = self.settings.max_upload_size
        try:
            raw_forms, raw_files = multipart.parse_form_data(
                dict(environ),
                strict=True,
                ignore_errors=False,
                part_limit=512,
                memory_limit=16 * MIB,
                spool_limit=256 * 1024,
                disk_limit=limit + 16 * MIB,
                partsize_limit=limit + 16 * MIB,
            )
        except ValueError:  # MultipartError, and UnicodeDecodeError for non-UTF-8 fields
            raise UploadError(400, "Invalid multipart form data.") from None
        for key in raw_files:
            parts.extend(raw_files.getall(key))
        forms: dict[str, list[str]] = {}
        for key in raw_forms:
            values = []
            for value in raw_forms.getall(key):
                if value.strip() == "UNKNOWN":
                    continue  # distutils' placeholder for "not given"
                values.append(value.replace("\x00", "\\x00"))
            if values:
                forms[key] = values
        files: dict[str, multipart.MultipartPart] = {}
        for key in sorted(raw_files):
            if key not in ("content", "gpg_signature"):
                raise UploadError(400, f"{key}: Should not be a tuple.")
            part = raw_files.getall(key)[0]
            if part.filename is None and key == "content":
                continue  # a text field called content is no file
            files[key] = part
        return forms, files

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
        with self.db.transaction() as tx:
            tx.record_project_creation(identity.row.user_id)
            hits = tx.project_creations_since(identity.row.user_id, since)
        if limit and hits > limit:
            raise UploadError(429, "Too many new projects created")

    def _authorize(
        self, identity: Identity, typed_name: str, project: ProjectRow | None, tx: Tx
    ) -> None:
        verdict = identity.token.evaluate(
            typed_name,
            project_id=project.id if project else None,
            user_id=identity.row.user_id,
        )
        if not verdict.allowed:
            raise UploadError(403, verdict.message)
        if not identity.token.verify_signature(identity.row.root_key):
            raise UploadError(403, "Invalid API Token: signatures do not match")
        if project is not None and not tx.has_role(project.id, identity.row.user_id):
            raise UploadError(
                403,
                f"The user '{identity.row.username}' isn't allowed to upload to project "
                f"'{project.name}'. See {self._help('project-name')} for more information.",
            )

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
        directory = self.db.packages_dir
        temp = directory / f".upload-{uuid.uuid4().hex}.part"
        final = directory / filename
        renamed = False
        try:
            up.hashes, size = _write_hashed(content.file, temp)
            up.path = temp
            try:
                rules.apply(rules.AFTER_CONTENT, up)
            except Duplicate:
                return
            with self.db.transaction() as tx:
                project = tx.project(up.normalized)
                if project is None:
                    project = tx.create_project(form.name, up.normalized, identity.row.user_id)
                elif known is None:
                    # Created by a concurrent upload since the first look: judge again.
                    self._authorize(identity, form.name, project, tx)
                if project.name != meta.name:
                    tx.rename_project(project.id, meta.name)
                if self._is_duplicate(tx, filename, up.hashes):
                    return
                canonical = canonicalize_version(meta.version)
                if form.filetype == "sdist" and tx.has_sdist(project.id, canonical):
                    raise UploadError(400, "Only one sdist may be uploaded per release.")
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
                    )
                )
                os.replace(temp, final)
                renamed = True
        except BaseException:
            if renamed:
                final.unlink(missing_ok=True)
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


def _write_hashed(source: BinaryIO, destination: Path) -> tuple[dict[str, str], int]:
    hashers = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha256": hashlib.sha256(),
        "blake2_256": hashlib.blake2b(digest_size=32),
    }
    size = 0
    source.seek(0)
    with open(destination, "wb") as out:
        while chunk := source.read(_CHUNK):
            size += len(chunk)
            out.write(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}, size


# warehouse's route predicates: ``:action`` (from the query or the form) picks the view.
_GONE = {
    "submit": "Project pre-registration is no longer required or supported, "
    "upload your files instead.",
    "submit_pkg_info": "Project pre-registration is no longer required or supported, "
    "upload your files instead.",
    "doc_upload": "Uploading documentation is no longer supported, we recommend using "
    "https://readthedocs.org/.",
}


def _route(environ: Mapping[str, Any], forms: Mapping[str, list[str]]) -> None:
    """``warehouse/forklift/__init__.py``: file_upload, or the 410 views.

    A POST with no or an unknown ``:action`` matches no view: 404 where no
    forklift domain is configured. (With one, as on upload.pypi.org, a
    catch-all template answers 200 with a page; whether Test PyPI sets it is
    not public, and a 200 would let a broken client believe it uploaded.)
    """
    from urllib.parse import parse_qs

    query = parse_qs(str(environ.get("QUERY_STRING") or ""))
    actions = query.get(":action") or forms.get(":action") or []
    action = actions[0] if actions else ""
    if action in _GONE:
        raise UploadError(410, _GONE[action])
    if action != "file_upload":
        raise UploadError(404, "Not Found")
