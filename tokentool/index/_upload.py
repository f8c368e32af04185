"""``POST /legacy/``: authenticate, validate and store one file, in warehouse's order.

Each refusal is an ``UploadError`` carrying the status and the exact reason
phrase. Nothing is written until every check passed; then the file is written
under a hidden temporary name and linked to its final name inside the
transaction that records it (``_store.py``), so a refused or failed upload
leaves no project, row or served file.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import re
import tarfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import multipart
from packaging.metadata import Metadata
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

import tokentool
from tokentool.index._db import Database, NewFile, NewRelease, ProjectRow, TokenRow, Tx
from tokentool.index._forms import FormError, UploadForm, validate_metadata, validate_upload_form
from tokentool.index._jsonapi import release_info
from tokentool.index._store import publish, receive, wheel_metadata

log = logging.getLogger("tokentool.index")

MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD = 100 * MIB
DEFAULT_NEW_PROJECT_LIMIT = 20


class UploadError(Exception):
    """A refusal: the status and the reason phrase the client will print."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _IdenticalReupload(Exception):
    """Roll the transaction back and answer 200: the file is already there, unchanged."""


@dataclasses.dataclass
class Settings:
    """What the operator chose; ``site`` is known only once the port is bound."""

    site: str = "http://localhost"
    max_upload_size: int = DEFAULT_MAX_UPLOAD
    new_project_limit: int = DEFAULT_NEW_PROJECT_LIMIT


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is uploading: the token's database row and the token as sent (caveats, chain)."""

    row: TokenRow
    token: tokentool.Token = dataclasses.field(repr=False)


def _mb(size: int) -> str:
    return str(size // MIB) if size % MIB == 0 or size >= MIB else f"{size / MIB:.2f}"


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
        """Raise ``UploadError`` to refuse; return to answer 200."""
        identity = self.authenticate(environ.get("HTTP_AUTHORIZATION"))
        parts: list[multipart.MultipartPart] = []
        try:
            forms, files = self._parse(environ, parts)
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
        try:
            form = validate_upload_form(forms)
            meta = validate_metadata(forms)
        except FormError as exc:
            raise UploadError(400, str(exc)) from None
        content = files.get("content")
        if content is None:
            raise UploadError(400, "Upload payload does not have a file.")
        normalized = canonicalize_name(form.name)
        project = self.db.reader().project(normalized)
        if project is None:
            from tokentool.index._auth import ensure_user_can_upload

            ensure_user_can_upload(identity, self.settings.site)  # before creating: warehouse
            self._check_new_project_rate(self.db.reader(), identity)
        self._authorize(identity, form.name, project, self.db.reader())
        self._store(identity, form, meta, content, normalized, project)

    # -- authentication (warehouse's security policies: tokentool/index/_auth.py) --
    def authenticate(self, header: str | None) -> Identity:
        from tokentool.index import _auth

        return _auth.authenticate(header, self.db.reader(), self.settings.site)

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
        if forms.get("protocol_version", ["1"])[0] != "1":
            raise UploadError(400, "Unknown protocol version.")
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
        limit = self.settings.new_project_limit
        if limit and tx.projects_created_since(identity.row.user_id, time.time() - 3600) >= limit:
            raise UploadError(429, "Too many new projects created")

    def _authorize(
        self, identity: Identity, typed_name: str, project: ProjectRow | None, tx: Tx
    ) -> None:
        from tokentool.index import _auth

        _auth.authorize(identity, typed_name, project, tx, self.settings.site)

    # -- the file ---------------------------------------------------------------
    def _store(
        self,
        identity: Identity,
        form: UploadForm,
        meta: Metadata,
        content: multipart.MultipartPart,
        normalized: str,
        known: ProjectRow | None,
    ) -> None:
        project_name = known.name if known else form.name
        filename = content.filename or ""
        _validate_filename(filename, form.filetype)
        if not content.content_type or content.content_type.startswith("image/"):
            raise UploadError(400, "Invalid distribution file.")
        limit = self.settings.max_upload_size
        if content.size > limit:
            raise UploadError(
                400,
                f"File too large. Limit for project {project_name!r} is {_mb(limit)} MB. "
                f"See {self._help('file-size-limit')} for more information.",
            )
        directory = self.db.packages_dir
        final = directory / filename
        temp, hashes, size = receive(content.file, directory)
        published = False
        try:
            self._check_digests(form, hashes)
            # An identical re-upload skips the file checks (warehouse: _is_duplicate_file
            # comes first), but answers 200 only once authorized inside the transaction.
            duplicate = self._is_duplicate(self.db.reader(), filename, hashes)
            metadata = None
            if not duplicate:
                _check_distribution(temp, filename, form.filetype, meta, project_name, normalized)
                if form.filetype == "bdist_wheel":
                    metadata = wheel_metadata(temp, filename)
            with self.db.transaction() as tx:
                # Identity and role again, under the write lock: a token revoked or a
                # project created by someone else since the first look counts.
                if tx.token(identity.row.id) is None:
                    raise self._invalid_auth()
                project = tx.project(normalized)
                if project is None:
                    self._check_new_project_rate(tx, identity)
                    project = tx.create_project(form.name, normalized, identity.row.user_id)
                else:
                    self._authorize(identity, form.name, project, tx)
                if self._is_duplicate(tx, filename, hashes):
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
                        md5_digest=hashes["md5"],
                        sha256_digest=hashes["sha256"],
                        blake2_256_digest=hashes["blake2_256"],
                        uploaded_by=identity.row.user_id,
                        python_version=form.pyversion or None,
                        metadata=metadata,
                    )
                )
                publish(temp, final)
                published = True
        except _IdenticalReupload:
            return
        except BaseException:
            if published:  # linked, then the commit failed: the name goes with the row
                final.unlink(missing_ok=True)
            raise
        finally:
            temp.unlink(missing_ok=True)

    def _check_digests(self, form: UploadForm, hashes: Mapping[str, str]) -> None:
        given = {
            "md5": form.md5_digest,
            "sha256": form.sha256_digest,
            "blake2_256": form.blake2_256_digest,
        }
        for name, value in given.items():
            if value and not hmac.compare_digest(value.lower(), hashes[name]):
                raise UploadError(
                    400,
                    "The digest supplied does not match a digest calculated "
                    "from the uploaded file.",
                )

    def _is_duplicate(self, tx: Tx, filename: str, hashes: Mapping[str, str]) -> bool:
        """True: identical re-upload (answer 200, change nothing). Raises on reuse."""
        existing = tx.conflicting_file(filename, hashes["blake2_256"])
        if existing is None:
            return False
        if (
            existing.filename == filename
            and existing.sha256_digest == hashes["sha256"]
            and existing.blake2_256_digest == hashes["blake2_256"]
        ):
            return True
        raise UploadError(
            400,
            f"File already exists ({filename!r}, with blake2_256 hash "
            f"{hashes['blake2_256']!r}). See {self._help('file-name-reuse')} "
            "for more information.",
        )


_EXTENSIONS = {"sdist": (".tar.gz", ".zip"), "bdist_wheel": (".whl",)}


def _validate_filename(filename: str, filetype: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise UploadError(
            400,
            "Cannot upload a file with non-printable characters (ordinals 0-31) "
            "or the DEL character (ordinal 127) in the name.",
        )
    if "/" in filename or "\\" in filename:
        raise UploadError(400, "Cannot upload a file with '/' or '\\' in the name.")
    lowered = filename.lower()
    extension = next(
        (e for e in (".tar.gz", ".zip", ".whl") if lowered.endswith(e) and len(lowered) > len(e)),
        None,
    )
    if extension is None:
        raise UploadError(
            400,
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
            "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
            "for more information",
        )
    if extension not in _EXTENSIONS[filetype]:
        raise UploadError(
            400,
            f"Invalid file extension: Extension {extension} is invalid for filetype "
            f"{filetype}. See https://www.python.org/dev/peps/pep-0527 for more information.",
        )
    if filename.startswith("."):
        raise UploadError(400, "Invalid distribution file.")


def _is_valid_dist_file(path: Path, filename: str) -> bool:
    """Cheap structural check: a wheel has a WHEEL file, an sdist a PKG-INFO."""
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                return any(
                    n.count("/") == 1 and n.endswith(".dist-info/WHEEL") for n in zf.namelist()
                )
        if filename.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                return any(n.count("/") == 1 and n.endswith("/PKG-INFO") for n in zf.namelist())
        with tarfile.open(path, "r:gz") as tf:
            return any(
                m.name.count("/") == 1 and m.name.endswith("/PKG-INFO") for m in tf.getmembers()
            )
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError):
        return False


_PLATFORMS = {
    "any",
    "win32",
    "win_arm64",
    "win_amd64",
    "win_ia64",
    "manylinux1_x86_64",
    "manylinux1_i686",
    "manylinux2010_x86_64",
    "manylinux2010_i686",
    "manylinux2014_x86_64",
    "manylinux2014_i686",
    "manylinux2014_aarch64",
    "manylinux2014_armv7l",
    "manylinux2014_ppc64",
    "manylinux2014_ppc64le",
    "manylinux2014_s390x",
    "linux_armv6l",
    "linux_armv7l",
}


def _valid_platform(tag: str) -> bool:
    if tag in _PLATFORMS:
        return True
    if re.fullmatch(r"macosx_\d+_\d+_[a-z0-9_]+", tag):
        return True
    return bool(re.fullmatch(r"(many|musl)linux_\d+_\d+_[a-z0-9_]+", tag))


def _check_distribution(
    path: Path, filename: str, filetype: str, meta: Metadata, project_name: str, normalized: str
) -> None:
    if not _is_valid_dist_file(path, filename):
        raise UploadError(400, "Invalid distribution file.")
    version: Version
    if filename.endswith(".tar.gz"):
        try:
            name, version = parse_sdist_filename(filename)
        except InvalidSdistFilename:
            raise UploadError(400, f"Invalid source distribution filename: {filename}") from None
        if meta.version.is_postrelease and name != canonicalize_name(meta.name):
            name = canonicalize_name(filename.rpartition("-")[0].rpartition("-")[0])
            version = Version(filename[len(name) + 1 : -len(".tar.gz")])
        prefix = normalized.replace("-", "_")
        if name.lower().replace(".", "_").replace("-", "_") != prefix:
            raise UploadError(400, f"Start filename for {project_name!r} with {prefix!r}.")
        _check_version(meta.version, version)
    elif filename.endswith(".whl"):
        try:
            name, version, _build, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise UploadError(400, str(exc)) from None
        for tag in tags:
            if not _valid_platform(tag.platform):
                raise UploadError(
                    400,
                    f"Binary wheel '{filename}' has an unsupported platform tag '{tag.platform}'.",
                )
        canonical = canonicalize_name(meta.name)
        if canonical != name:
            raise UploadError(
                400,
                f"Start filename for {project_name!r} with {canonical.replace('-', '_')!r}.",
            )
        _check_version(meta.version, version)
        dist_name, dist_version, _rest = filename.split("-", 2)
        metadata_file = f"{dist_name}-{dist_version}.dist-info/METADATA"
        with zipfile.ZipFile(path) as zf:
            if metadata_file not in zf.namelist():
                raise UploadError(
                    400,
                    f"Wheel '{filename}' does not contain the required METADATA file: "
                    f"{metadata_file}",
                )


def _check_version(expected: Version, found: Version) -> None:
    if expected != found:
        raise UploadError(
            400, f"Version in filename should be {str(expected)!r} not {str(found)!r}."
        )
