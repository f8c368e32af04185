"""One row per warehouse upload rule: the input and Test PyPI's exact status and words.

In-process through the stand-in's WSGI app (tests/helpers.py), so the whole table
runs in seconds. Each row uploads with a fresh project name (``{name}``, its
normalized form ``{norm}``, the wheel/sdist prefix ``{under}``); ``{site}`` is
the stand-in's URL. Expected words are copied from warehouse (legacy.py,
forms.py, metadata.py, services.py) at the reference commit.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from helpers import SITE, Harness, upload_fields
from packaging.utils import canonicalize_name

CORE = "See https://packaging.python.org/specifications/core-metadata for more information."
HELP = SITE + "/help/#"


def _record(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def wheel(
    name: str,
    version: str = "1.0",
    *,
    file_name: str | None = None,
    file_version: str | None = None,
    tag: str = "py3-none-any",
    extra: dict[str, bytes] | None = None,
    omit: tuple[str, ...] = (),
    compress: int = zipfile.ZIP_DEFLATED,
) -> tuple[str, bytes]:
    """A wheel whose name parts and .dist-info follow ``file_name``/``file_version``."""
    under = file_name or canonicalize_name(name).replace("-", "_")
    fv = file_version or version
    info = f"{under}-{fv}.dist-info"
    files = {
        f"{under}/__init__.py": b"",
        f"{info}/METADATA": f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
        **{p.format(info=info): d for p, d in (extra or {}).items()},
    }
    files = {p: d for p, d in files.items() if p.split("/")[-1] not in omit}
    record = [_record(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
    if "RECORD" not in omit:
        files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as zf:
        for path, data in files.items():  # fixed times: the same input, the same bytes
            zf.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data, compress)
    return f"{under}-{fv}-{tag}.whl", out.getvalue()


def pkg_info(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n".encode()


def tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tf,
    ):
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sdist(
    name: str,
    version: str = "1.0",
    *,
    filename: str | None = None,
    top: str | None = None,
    members: dict[str, bytes] | None = None,
    as_zip: bool = False,
) -> tuple[str, bytes]:
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    top = top or stem
    files = (
        members
        if members is not None
        else {
            f"{top}/PKG-INFO": pkg_info(name, version),
            f"{top}/setup.py": b"",
        }
    )
    if as_zip:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in files.items():
                zf.writestr(
                    zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED
                )
        return filename or f"{stem}.zip", out.getvalue()
    return filename or f"{stem}.tar.gz", tar_gz(files)


Build = Callable[[str], tuple[str, bytes]]


@dataclasses.dataclass
class Row:
    id: str
    status: int
    reason: str
    build: Build | None = None  # default: a good wheel
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    sdist: bool = False
    content_type: str = "application/octet-stream"
    #: (harness, name, token) -> None: state before the upload (earlier files, projects)
    before: Callable[[Harness, str, str], None] | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    name: str | None = None  # a fixed project name instead of a fresh one


def _upload(h: Harness, token: str, name: str, built: tuple[str, bytes], **fields: Any) -> Any:
    filename, data = built
    filetype = "sdist" if filename.endswith((".tar.gz", ".zip")) else "bdist_wheel"
    version = filename.split("-")[1].removesuffix(".tar.gz").removesuffix(".zip")
    form = upload_fields(name, version, data, filetype, fields)
    return h.post(form, (filename, data, "application/octet-stream"), token)


def _prior_wheel(h: Harness, name: str, token: str) -> None:
    assert _upload(h, token, name, wheel(name)).status == 200


def _prior_sdist(h: Harness, name: str, token: str) -> None:
    assert _upload(h, token, name, sdist(name)).status == 200


def _prior_deleted_wheel(h: Harness, name: str, token: str) -> None:
    _prior_wheel(h, name, token)
    with h.index() as index:
        index.delete(name, "1.0")


def _similar_exists(h: Harness, name: str, token: str) -> None:
    other = name.replace("-", "")  # same once separators go: "p-ab1" and "pab1"
    assert _upload(h, token, other, wheel(other)).status == 200


def bomb_tar(name: str) -> tuple[str, bytes]:
    """An sdist whose one member inflates 2 MiB of zeros (ratio far over 50)."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-1.0"
    return f"{stem}.tar.gz", tar_gz({f"{stem}/PKG-INFO": b"x", f"{stem}/zeros": bytes(2 * 1024**2)})


def many_members(name: str) -> tuple[str, bytes]:
    stem = f"{canonicalize_name(name).replace('-', '_')}-1.0"
    members = {f"{stem}/PKG-INFO": b""} | {f"{stem}/m{i}": b"" for i in range(300)}
    return f"{stem}.tar.gz", tar_gz(members)


def bad_crc_wheel(name: str) -> tuple[str, bytes]:
    """A stored wheel whose WHEEL bytes no longer match their CRC (sizes unchanged)."""
    filename, data = wheel(name, compress=zipfile.ZIP_STORED)
    assert data.count(b"Wheel-Version: 1.0") == 1
    return filename, data.replace(b"Wheel-Version: 1.0", b"Wheel-Version: 1.1")


def bomb_zip(name: str) -> tuple[str, bytes]:
    return wheel(name, extra={"{info}/../zeros.bin": bytes(2 * 1024**2)})


PYARMOR = (
    "Invalid distribution file. PyArmor-encrypted content is not allowed. "
    "See https://pypi.org/policy/acceptable-use-policy/ for more information."
)
SOURCEDEFENDER = PYARMOR.replace("PyArmor", "SourceDefender")
OBFUSCATED = b"from pyarmor_runtime import __pyarmor__\n__pyarmor__(__name__, __file__, b'...')\n"
PYE = b"---BEGIN PYE FILE---\nq1w2e3\n---END PYE FILE---\n"


def with_member(path: str, data: bytes) -> Build:
    """A wheel holding one more member ``path`` (under the package folder)."""
    return lambda n: wheel(n, extra={f"{canonicalize_name(n).replace('-', '_')}/{path}": data})


def sdist_with_member(path: str, data: bytes) -> Build:
    def build(n: str) -> tuple[str, bytes]:
        top = f"{canonicalize_name(n).replace('-', '_')}-1.0"
        return sdist(n, members={f"{top}/PKG-INFO": pkg_info(n, "1.0"), f"{top}/{path}": data})

    return build


def pyarmor_wheel_without_WHEEL(name: str) -> tuple[str, bytes]:
    under = canonicalize_name(name).replace("-", "_")
    return wheel(name, omit=("WHEEL",), extra={f"{under}/x.py": OBFUSCATED})


ZIP_NOT_ACCEPTED = (
    "Invalid distribution file. ZIP archive not accepted: {reason}. "
    "See https://docs.pypi.org/archives for more information"
)


def _rezip(name: str, write: Callable[[zipfile.ZipFile, str, bytes], None], out: Any) -> None:
    data = wheel(name)[1]
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            write(dst, info.filename, src.read(info))


def commented_zip(name: str) -> tuple[str, bytes]:
    out = io.BytesIO()

    def write(dst: zipfile.ZipFile, path: str, data: bytes) -> None:
        info = zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0))
        info.comment = b"hello"
        dst.writestr(info, data)

    _rezip(name, write, out)
    return wheel(name)[0], out.getvalue()


class _Unseekable(io.RawIOBase):
    """A write-only stream zipfile cannot seek back in: it writes data descriptors."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += bytes(data)
        return len(data)


def streamed_zip(name: str) -> tuple[str, bytes]:
    out = _Unseekable()

    def write(dst: zipfile.ZipFile, path: str, data: bytes) -> None:
        with dst.open(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), "w") as member:
            member.write(data)

    _rezip(name, write, out)
    return wheel(name)[0], bytes(out.buffer)


GONE_SUBMIT = (
    "Project pre-registration is no longer required or supported, upload your files instead."
)

ROWS = [
    # -- :action routing (warehouse/forklift/__init__.py, legacy.submit/doc_upload)
    Row("action-submit", 410, GONE_SUBMIT, fields={":action": "submit"}),
    Row("action-submit-pkg-info", 410, GONE_SUBMIT, fields={":action": "submit_pkg_info"}),
    Row(
        "action-doc-upload",
        410,
        "Uploading documentation is no longer supported, we recommend using "
        "https://readthedocs.org/.",
        fields={":action": "doc_upload"},
    ),
    Row("action-missing", 404, "Not Found", fields={":action": ""}),
    Row("action-unknown", 404, "Not Found", fields={":action": "list_classifiers"}),
    # -- file_upload: protocol, UploadForm
    Row("protocol", 400, "Unknown protocol version.", fields={"protocol_version": "2"}),
    Row(
        "form-name",
        400,
        "'-x-' is an invalid value for Name. Error: Start and end with a letter or numeral "
        "containing only ASCII numeric and '.', '_' and '-'. " + CORE,
        fields={"name": "-x-"},
    ),
    Row(
        "form-filetype",
        400,
        "Invalid value for filetype. Error: Use a known file type.",
        fields={"filetype": "bdist_egg"},
    ),
    Row(
        "form-sha256",
        400,
        "Invalid value for sha256_digest. Error: Use a valid, hex-encoded, SHA256 message digest.",
        fields={"sha256_digest": "abc"},
    ),
    Row(
        "form-pyversion-wheel",
        400,
        "Invalid value for pyversion. Error: Python version is required for binary "
        "distribution uploads.",
        fields={"pyversion": ""},
    ),
    Row(
        "form-pyversion-sdist",
        400,
        "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist.",
        build=sdist,
        fields={"pyversion": "py3"},
    ),
    Row(
        "form-digest",
        400,
        "Error: Include at least one message digest.",
        fields={"sha256_digest": ""},
    ),
    # -- metadata.py
    Row(
        "metadata-2.0",
        400,
        "'2.0' is not a valid metadata version. " + CORE,
        fields={"metadata_version": "2.0"},
    ),
    Row(
        "metadata-2.6",
        400,
        "'2.6' is not a valid metadata version. " + CORE,
        fields={"metadata_version": "2.6"},
    ),
    Row(
        "metadata-2.5-import-names",
        200,
        "OK",
        fields={"metadata_version": "2.5", "import_name": "pkg", "import_namespace": "ns"},
    ),
    Row(
        "metadata-local-version",
        400,
        "The use of local versions in '1.0+local' is not allowed. See https://packaging."
        "python.org/en/latest/specifications/version-specifiers/#local-version-identifiers "
        "for more information.",
        fields={"version": "1.0+local"},
    ),
    Row(
        "metadata-summary-length",
        400,
        "'summary' field must be 512 characters or less. " + CORE,
        fields={"summary": "s" * 513},
    ),
    Row(
        "metadata-email",
        400,
        "'a@b' is not a valid email address: The part after the @-sign is not valid. "
        "It should have a period. " + CORE,
        fields={"author_email": "A <a@b>"},
    ),
    Row(
        "metadata-classifier-unknown",
        400,
        "'Foo :: Bar' is not a valid classifier. " + CORE,
        fields={"classifiers": "Foo :: Bar"},
    ),
    # warehouse's pinned libraries (requirements/main.txt at 6b62157): trove-classifiers
    # 2026.6.1.19 has no Odoo 20.0; packaging 26.2 takes only "UTF-8" as written.
    Row(
        "metadata-classifier-newer-than-warehouse",
        400,
        "'Framework :: Odoo :: 20.0' is not a valid classifier. " + CORE,
        fields={"classifiers": "Framework :: Odoo :: 20.0"},
    ),
    Row(
        "metadata-description-charset-lower-case",
        400,
        "'description-content-type' can only specify the UTF-8 charset, not 'utf-8'. " + CORE,
        fields={"description_content_type": "text/markdown; charset=utf-8"},
    ),
    # webob's cgi.FieldStorage: text fields read as UTF-8 with errors="replace", and a
    # text field is a text field however long (not spooled into a "tuple")
    Row("field-not-utf8", 200, "OK", fields={"summary": b"caf\xe9 au lait"}),
    Row("field-long-description", 200, "OK", fields={"description": "a few words\n" * 30_000}),
    # decorators.sanitize looks at a key's LAST value only (webob's POST.get)
    Row(
        "sanitize-unknown-first-kept",
        400,
        "'UNKNOWN' is not a valid classifier. " + CORE,
        fields={"classifiers": ["UNKNOWN", "Programming Language :: Python"]},
    ),
    Row(
        "sanitize-unknown-last-drops-all",
        200,
        "OK",
        fields={"classifiers": ["Foo :: Bar", "UNKNOWN"]},
    ),
    Row(
        "metadata-classifier-private",
        400,
        "'Private :: Do Not Upload' is not a valid classifier. " + CORE,
        fields={"classifiers": "Private :: Do Not Upload"},
    ),
    Row(
        "metadata-classifier-deprecated",
        400,
        "The classifier 'Framework :: Django CMS :: 4.2' has been deprecated, use one of "
        "['Framework :: Django CMS :: 5.0'] instead. " + CORE,
        fields={"classifiers": "Framework :: Django CMS :: 4.2"},
    ),
    Row(
        "metadata-home-page",
        400,
        "'not a url' is not a valid url. " + CORE,
        fields={"home_page": "not a url"},
    ),
    Row(
        "metadata-project-url-label",
        400,
        f"'{'L' * 33}' must be 32 characters or less. " + CORE,
        fields={"project_urls": f"{'L' * 33}, https://example.org"},
    ),
    Row(
        "metadata-project-url",
        400,
        "'ftp://x.org' is not a valid url. " + CORE,
        fields={"project_urls": "Source, ftp://x.org"},
    ),
    Row(
        "metadata-direct-dependency",
        400,
        "Can't have direct dependency: foo @ https://x.org/foo.whl. " + CORE,
        fields={"requires_dist": "foo @ https://x.org/foo.whl"},
    ),
    Row(
        "metadata-provides-dist-url",
        400,
        "Can't have direct dependency: 'foo @ https://x.org/f.whl'. " + CORE,
        fields={"provides_dist": "foo @ https://x.org/f.whl"},
    ),
    Row(
        "metadata-dynamic",
        400,
        "Dynamic field 'dynamic' is not a valid dynamic field. " + CORE,
        fields={"dynamic": "Dynamic"},
    ),
    Row(
        "metadata-license-and-expression",
        400,
        "License is deprecated when License-Expression is present. Only License-Expression "
        "should be present. " + CORE,
        fields={"license": "MIT", "license_expression": "MIT"},
    ),
    # -- no file
    Row("no-file", 400, "Upload payload does not have a file.", build=lambda n: ("", b"")),
    # -- create_project / check_project_name
    Row(
        "name-stdlib",
        400,
        "The name 'tomllib' isn't allowed (conflict with Python Standard Library module "
        f"name). See {HELP}project-name for more information.",
        name="tomllib",
    ),
    Row(
        "name-prohibited",
        400,
        f"The name 'not-this-one' isn't allowed. See {HELP}project-name for more information.",
        name="not-this-one",
        settings={"prohibited_names": frozenset({"Not_This.One"})},
    ),
    # migration 1e2ccd34f539: every warehouse prohibits these (test_fails_with_invalid_names)
    Row(
        "name-prohibited-by-default",
        400,
        f"The name 'requirements.txt' isn't allowed. See {HELP}project-name for more information.",
        name="requirements.txt",
    ),
    Row(
        "name-prohibited-by-default-rr",
        400,
        f"The name 'rrequirements.txt' isn't allowed. See {HELP}project-name for more information.",
        name="rrequirements.txt",
    ),
    Row(
        "name-too-similar",
        400,
        f"The name '{{name}}' is too similar to an existing project. See {HELP}project-name "
        "for more information.",
        before=_similar_exists,
    ),
    # -- description (utils/readme.py)
    Row(
        "description-rst",
        400,
        "The description failed to render in the default format of reStructuredText. "
        f"See {HELP}description-content-type for more information.",
        fields={"description": "`broken"},
    ),
    Row(
        "description-rst-declared",
        400,
        "The description failed to render for 'text/x-rst'. "
        f"See {HELP}description-content-type for more information.",
        fields={"description": "`broken", "description_content_type": "text/x-rst"},
    ),
    Row(
        "description-markdown",
        200,
        "OK",
        fields={"description": "`fine` *markdown*", "description_content_type": "text/markdown"},
    ),
    # -- _validate_filename, content type, sizes
    Row(
        "filename-control",
        400,
        "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL "
        "character (ordinal 127) in the name.",
        build=lambda n: ("a\x7fb-1.0-py3-none-any.whl", b"x"),
    ),
    Row(
        "filename-extension",
        400,
        "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
        "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
        "for more information",
        build=lambda n: (f"{n}-1.0.egg", b"x"),
    ),
    # The name as webob's cgi.FieldStorage reads it: no %-decoding, no IE6 path cut.
    Row(
        "filename-percent-not-decoded",
        400,
        "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
        "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
        "for more information",
        build=lambda n: (f"{n}-1.0-py3-none-any.whl%0A", b"x"),
    ),
    Row(
        "filename-windows-path-kept",
        400,
        "Cannot upload a file with '/' or '\\' in the name.",
        build=lambda n: ("C:\\dist\\" + wheel(n)[0], wheel(n)[1]),
    ),
    Row(
        "filename-extension-filetype",
        400,
        "Invalid file extension: Extension .tar.gz is invalid for filetype bdist_wheel. "
        "See https://www.python.org/dev/peps/pep-0527 for more information.",
        build=sdist,
        fields={"filetype": "bdist_wheel", "pyversion": "py3"},
    ),
    Row("content-type-image", 400, "Invalid distribution file.", content_type="image/png"),
    # cgi.FieldStorage keeps the type's case: only a lower-case "image/" is refused
    Row("content-type-image-capitals", 200, "OK", content_type="Image/PNG"),
    Row(
        "file-too-large",
        400,
        "File too large. Limit for project '{name}' is 0 MB. See "
        "https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-file-size-limit-increase for more information.",
        settings={"max_upload_size": 100},
    ),
    Row(
        "project-too-large",
        400,
        "Project size too large. Limit for project '{name}' total size is 0 GB. See "
        "https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-project-size-limit-increase",
        settings={"max_project_size": 100},
    ),
    # file_upload tests both limits after each 8096-byte chunk, the file's first:
    # whichever the file crosses in an earlier chunk is the answer.
    Row(
        "project-limit-crossed-first",
        400,
        "Project size too large. Limit for project '{name}' total size is 0 GB. See "
        "https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-project-size-limit-increase",
        build=lambda n: wheel(n, extra={"{info}/pad": bytes(30000)}, compress=zipfile.ZIP_STORED),
        settings={"max_upload_size": 20000, "max_project_size": 100},
    ),
    Row(
        "file-limit-crossed-first",
        400,
        "File too large. Limit for project '{name}' is 0 MB. See "
        "https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-file-size-limit-increase for more information.",
        build=lambda n: wheel(n, extra={"{info}/pad": bytes(30000)}, compress=zipfile.ZIP_STORED),
        settings={"max_upload_size": 100, "max_project_size": 20000},
    ),
    # -- digests, duplicates, reuse, one sdist
    Row(
        "digest",
        400,
        "The digest supplied does not match a digest calculated from the uploaded file.",
        fields={"sha256_digest": "0" * 64},
    ),
    # wtforms' Optional keeps a blank value as the data: file_upload compares it
    Row(
        "digest-blank-md5",
        400,
        "The digest supplied does not match a digest calculated from the uploaded file.",
        fields={"md5_digest": " "},
    ),
    Row("identical-reupload", 200, "OK", before=_prior_wheel),
    Row(
        "same-name-other-content",
        400,
        "File already exists ('{under}-1.0-py3-none-any.whl', with blake2_256 hash "
        "'{blake2}'). See " + HELP + "file-name-reuse for more information.",
        build=lambda n: wheel(n, extra={"{info}/../x.py": b"other"}),
        before=_prior_wheel,
    ),
    Row(
        "deleted-name-reuse",
        400,
        "This filename was previously used by a file that has since been deleted. Use a "
        f"different version. See {HELP}file-name-reuse for more information.",
        before=_prior_deleted_wheel,
    ),
    Row(
        "second-sdist",
        400,
        "Only one sdist may be uploaded per release.",
        build=lambda n: sdist(n, as_zip=True),
        before=_prior_sdist,
    ),
    # -- _is_valid_dist_file
    Row(
        "not-a-zip",
        400,
        "Invalid distribution file. File is not a zipfile",
        build=lambda n: (wheel(n)[0], b"not a zip"),
    ),
    Row(
        "not-a-tar",
        400,
        "Invalid distribution file. File is not a tarfile",
        build=lambda n: (sdist(n)[0], b"not a tar"),
    ),
    Row(
        "sdist-two-top-level",
        400,
        "Invalid distribution file. Incorrect number of top-level directories in sdist",
        build=lambda n: sdist(n, members={"a/PKG-INFO": b"", "b/x": b""}),
    ),
    Row(
        "sdist-no-pkg-info",
        400,
        "Invalid distribution file. PKG-INFO not found at {under}-1.0/PKG-INFO",
        build=lambda n: sdist(
            n,
            members={
                f"{canonicalize_name(n).replace('-', '_')}-1.0/x": b"",
                f"{canonicalize_name(n).replace('-', '_')}-1.0/y": b"",
            },
        ),
    ),
    Row(
        "wheel-no-WHEEL",
        400,
        "Invalid distribution file. WHEEL not found at {under}-1.0.dist-info/WHEEL",
        build=lambda n: wheel(n, omit=("WHEEL",)),
    ),
    # _is_valid_dist_file reads WHEEL/PKG-INFO: a bad CRC is BadZipFile, "None"
    Row("wheel-bad-crc", 400, "Invalid distribution file. None", build=bad_crc_wheel),
    Row(
        "wheel-bzip2",
        400,
        "Invalid distribution file. File does not use a supported compression type",
        build=lambda n: wheel(n, compress=zipfile.ZIP_BZIP2),
    ),
    Row(
        "zip-ratio",
        400,
        "Invalid distribution file. File exceeds compression ratio of 50",
        build=bomb_zip,
        settings={"compression_min_size": 1024**2},
    ),
    Row(
        "zip-trailing-data",
        400,
        ZIP_NOT_ACCEPTED.format(reason="Trailing data"),
        build=lambda n: (wheel(n)[0], wheel(n)[1] + b"junk"),
    ),
    Row(
        "zip-directory-comment",
        400,
        ZIP_NOT_ACCEPTED.format(reason="Comment in central directory"),
        build=commented_zip,
    ),
    Row(
        "zip-data-descriptor",
        400,
        ZIP_NOT_ACCEPTED.format(reason="ZIP contains a data descriptor"),
        build=streamed_zip,
    ),
    # stand-in bounds (warehouse inflates tars whole and counts no members)
    Row(
        "tar-ratio",
        400,
        "Invalid distribution file. File exceeds compression ratio of 50",
        build=bomb_tar,
        settings={"compression_min_size": 1024**2},
    ),
    Row(
        "tar-members",
        400,
        "Invalid distribution file. Too many members in archive (limit 100)",
        build=many_members,
        settings={"max_archive_members": 100},
    ),
    # -- sdist filenames (PEP 625)
    Row(
        "sdist-pep625-hyphens",
        400,
        "Filename '{norm}-1.0.tar.gz' is invalid, should be '{under}-1.0.tar.gz'.",
        build=lambda n: sdist(n, filename=f"{canonicalize_name(n)}-1.0.tar.gz"),
    ),
    Row(
        "sdist-zip",
        400,
        "Filename '{under}-1.0.zip' is invalid, should be '{under}-1.0.tar.gz'.",
        build=lambda n: sdist(n, as_zip=True),
    ),
    Row(
        "sdist-other-project",
        400,
        "Start filename for '{name}' with '{under}'.",
        build=lambda n: sdist(n, filename="other_name-1.0.tar.gz"),
    ),
    Row(
        "sdist-license-file",
        400,
        "License-File LICENSE does not exist in distribution file {under}-1.0.tar.gz at "
        "{under}-1.0/LICENSE",
        build=sdist,
        fields={"license_file": "LICENSE"},
    ),
    # -- the YARA scan (warehouse/utils/scanner.py), inside _is_valid_dist_file
    Row("pyarmor-py", 400, PYARMOR, build=with_member("core.py", OBFUSCATED)),
    Row("pyarmor-hook", 400, PYARMOR, build=with_member("a.py", b"def f(): __pyarmor_exit__()")),
    Row("pyarmor-PY-suffix", 400, PYARMOR, build=with_member("core.PY", OBFUSCATED)),
    Row("pyarmor-in-txt", 200, "OK", build=with_member("notes.txt", OBFUSCATED)),
    Row("pyarmor-template", 200, "OK", build=with_member("t.py", b"__pyarmor__(__name__, $path")),
    Row("pyarmor-sdist", 400, PYARMOR, build=sdist_with_member("src/core.py", OBFUSCATED)),
    Row("pyarmor-sdist-txt", 200, "OK", build=sdist_with_member("core.txt", OBFUSCATED)),
    Row("pye-both-lines", 400, SOURCEDEFENDER, build=with_member("core.pye", PYE)),
    Row("pye-one-line", 200, "OK", build=with_member("core.pye", PYE.split(b"q1w2e3")[0])),
    Row("pye-both-in-py", 400, SOURCEDEFENDER, build=with_member("core.py", PYE)),
    Row(
        # one line in each of two members: the bulk scan matches, no member does
        "pye-lines-split",
        200,
        "OK",
        build=lambda n: wheel(
            n,
            extra={
                f"{canonicalize_name(n).replace('-', '_')}/a.pye": b"---BEGIN PYE FILE---\n",
                f"{canonicalize_name(n).replace('-', '_')}/b.pye": b"---END PYE FILE---\n",
            },
        ),
    ),
    Row(
        # members over 5 MiB are not scanned
        "pyarmor-after-5-MiB",
        200,
        "OK",
        build=with_member("big.py", b"#" * (5 * 1024 * 1024) + b"\n__pyarmor_enter__\n"),
    ),
    Row(
        "pyarmor-within-5-MiB",
        400,
        PYARMOR,
        build=with_member("big.py", b"#" * (5 * 1024 * 1024 - 18) + b"__pyarmor_enter__\n"),
    ),
    # the order: after WHEEL / PKG-INFO, before a zip's record framing
    Row(
        "pyarmor-no-WHEEL",
        400,
        "Invalid distribution file. WHEEL not found at {under}-1.0.dist-info/WHEEL",
        build=pyarmor_wheel_without_WHEEL,
    ),
    Row(
        "pyarmor-trailing-data",
        400,
        PYARMOR,
        build=lambda n: (
            with_member("x.py", OBFUSCATED)(n)[0],
            with_member("x.py", OBFUSCATED)(n)[1] + b"junk",
        ),
    ),
    Row("sdist-good", 200, "OK", build=sdist),
    # -- wheel filenames and platforms
    Row(
        "wheel-platform",
        400,
        "Binary wheel '{under}-1.0-cp311-cp311-linux_x86_64.whl' has an unsupported platform "
        "tag 'linux_x86_64'.",
        build=lambda n: wheel(n, tag="cp311-cp311-linux_x86_64"),
    ),
    Row(
        "wheel-ios", 200, "OK", build=lambda n: wheel(n, tag="cp313-cp313-ios_13_0_arm64_iphoneos")
    ),
    Row(
        "wheel-android", 200, "OK", build=lambda n: wheel(n, tag="cp313-cp313-android_24_arm64_v8a")
    ),
    Row(
        "wheel-emscripten",
        200,
        "OK",
        build=lambda n: wheel(n, tag="cp313-cp313-pyemscripten_2025_0_wasm32"),
    ),
    Row("wheel-macos", 200, "OK", build=lambda n: wheel(n, tag="cp313-cp313-macosx_11_0_arm64")),
    Row(
        "wheel-capitals",
        400,
        "Filename '{upper}-1.0-py3-none-any.whl' should contain the normalized project name "
        "'{under}', not '{upper}'.",
        build=lambda n: wheel(n, file_name=canonicalize_name(n).replace("-", "_").upper()),
    ),
    Row(
        "wheel-other-name",
        400,
        "Start filename for '{name}' with '{under}'.",
        build=lambda n: wheel("other-name", file_name="other_name"),
    ),
    Row(
        "wheel-version",
        400,
        "Version in filename should be '1.0' not '1.1'.",
        build=lambda n: wheel(n, file_version="1.1"),
    ),
    Row(
        "wheel-license-file",
        400,
        "License-File LICENSE does not exist in distribution file {under}-1.0-py3-none-any.whl "
        "at {under}-1.0.dist-info/licenses/LICENSE",
        fields={"license_file": "LICENSE"},
    ),
    Row(
        "wheel-license-file-present",
        200,
        "OK",
        build=lambda n: wheel(n, extra={"{info}/licenses/LICENSE": b"MIT"}),
        fields={"license_file": "LICENSE"},
    ),
    Row(
        "wheel-record",
        400,
        "Wheel '{under}-1.0-py3-none-any.whl' does not contain the required RECORD file: "
        "{under}-1.0.dist-info/RECORD",
        build=lambda n: wheel(n, omit=("RECORD",)),
    ),
    Row(
        "wheel-entry-points",
        400,
        "Wheel '{under}-1.0-py3-none-any.whl' has invalid entry points defined in the "
        "entry_points.txt file",
        build=lambda n: wheel(
            n, extra={"{info}/entry_points.txt": b"[console_scripts]\n../evil = m:f\n"}
        ),
    ),
    Row(
        "wheel-metadata",
        400,
        "Wheel '{under}-1.0-py3-none-any.whl' does not contain the required METADATA file: "
        "{under}-1.0.dist-info/METADATA",
        build=lambda n: wheel(n, omit=("METADATA",)),
    ),
    # -- attestations
    Row(
        "attestations-with-token",
        400,
        "Invalid attestations supplied during upload: Attestations are only supported when "
        "using Trusted Publishing",
        fields={"attestations": "[]"},
    ),
    Row("good-wheel", 200, "OK"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_rule(tmp_path, row: Row) -> None:
    with Harness(tmp_path, **row.settings) as h:
        token = h.mint("alice")
        name = row.name or f"p-{uuid.uuid4().hex[:10]}"
        if row.before:
            row.before(h, name, token)
        filename, data = (row.build or wheel)(name)
        filetype = "sdist" if filename.endswith((".tar.gz", ".zip")) else "bdist_wheel"
        fields = upload_fields(name, "1.0", data, filetype, row.fields)
        file = (filename, data, row.content_type) if filename else None
        # a list value: the field repeated, in order (as clients send classifiers)
        items = [(k, x) for k, v in fields.items() for x in (v if isinstance(v, list) else [v])]
        answer = h.post(items, file, token)
        norm = canonicalize_name(name)
        under = norm.replace("-", "_")
        expected = row.reason.format(
            name=name,
            norm=norm,
            under=under,
            upper=under.upper(),
            blake2=hashlib.blake2b(data, digest_size=32).hexdigest(),
        )
        assert (answer.status, answer.reason) == (row.status, expected)
        listed = {p["normalized_name"]: p for p in h.index().listing()["projects"]}
        if row.status == 200:
            assert filename in listed[norm]["files"]
        elif row.before is None:
            assert norm not in listed  # a refusal leaves no project behind


# -- answers as warehouse sends them ---------------------------------------------------
BAD = (
    "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect."
)


def _digest_refusal(h: Harness, accept: str | None) -> Any:
    name = f"p-{uuid.uuid4().hex[:10]}"
    filename, data = wheel(name)
    fields = upload_fields(name, "1.0", data, extra={"sha256_digest": "0" * 64})
    return h.post(fields, (filename, data, "application/zip"), h.mint("bob"), accept=accept)


DIGEST = "The digest supplied does not match a digest calculated from the uploaded file."


@pytest.mark.parametrize(
    ("accept", "content_type", "body"),
    [
        (
            "application/json",
            "application/json",
            '{"message": "'
            + BAD
            + "\\n\\n\\n"
            + DIGEST
            + '\\n\\n", "code": "400 '
            + DIGEST
            + '", "title": "Bad Request"}',
        ),
        (
            "*/*",
            "text/html; charset=UTF-8",
            f"<html>\n <head>\n  <title>400 {DIGEST}</title>\n </head>\n <body>\n"
            f"  <h1>400 {DIGEST}</h1>\n  {BAD}<br/><br/>\n{DIGEST}\n\n\n </body>\n</html>",
        ),
        (None, "text/plain; charset=UTF-8", f"400 {DIGEST}\n\n{BAD}\n\n\n{DIGEST}\n\n"),
        (
            "text/plain, application/json;q=0.9",
            "application/json",
            None,
        ),
    ],
    ids=["json", "html", "plain", "json-by-q"],
)
def test_error_body_follows_accept_as_pyramid(tmp_path, accept, content_type, body) -> None:
    """pyramid's HTTPException.prepare: html or json by Accept; no Accept gives text/plain."""
    with Harness(tmp_path) as h:
        answer = _digest_refusal(h, accept)
    assert (answer.status, answer.reason) == (400, DIGEST)
    assert answer.headers["Content-Type"] == content_type
    if body is not None:
        assert answer.body.decode() == body


def test_html_body_escapes_the_message(tmp_path) -> None:
    with Harness(tmp_path) as h:
        answer = h.post(
            upload_fields("<b>", "1.0", b"x"),
            ("x.whl", b"x", "application/zip"),
            h.mint("u"),
            accept="text/html",
        )
    assert answer.status == 400
    assert b"&#x27;&lt;b&gt;&#x27; is an invalid value for Name" in answer.body
    assert "'<b>' is an invalid value for Name" in answer.reason


def test_status_line_keeps_words_and_drops_only_what_cannot_travel() -> None:
    from tokentool.index._app import MAX_REASON, status_line

    assert status_line(400, "two  spaces\tand tab") == "400 two  spaces\tand tab"
    assert status_line(400, "caf\u00e9 \u2603") == "400 caf\u00e9 ?"  # latin-1 kept, not beyond
    assert status_line(400, "a\r\nb\x1b[31m\x9bc\x7f") == "400 a??b?[31m?c?"
    long = status_line(400, "x" * 10_000)
    assert len(long) == len("400 ") + MAX_REASON and long.endswith("...")


def test_help_page_explains_every_anchor_the_messages_use(tmp_path) -> None:
    import re
    from pathlib import Path

    import tokentool.index as package
    from tokentool.index._help import TOPICS

    root = Path(package.__file__).parent
    used = set()
    for source in root.rglob("*.py"):
        text = source.read_text()
        # (ServeSettings.help("field") is an option's help text, not a help page anchor)
        used |= set(re.findall(r"""(?<!ServeSettings\.)help\(\s*["']([a-z0-9-]+)["']""", text))
        used |= set(re.findall(r"""help_url\([^,()]*,\s*["']([a-z0-9-]+)["']""", text))
        used |= set(re.findall(r"""user_docs\([^)]*["']([a-z0-9-]+)["']\)""", text))
    assert {"invalid-auth", "apitoken", "trusted-publishers", "project-name"} <= used
    assert used <= set(TOPICS)
    h = Harness(tmp_path)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/help/", "wsgi.input": io.BytesIO()}
    seen: list[str] = []
    try:
        page = b"".join(h.app(environ, lambda status, headers: seen.append(status))).decode()
    finally:
        h.close()
    assert seen == ["200 OK"]
    for anchor in used:
        assert f'id="{anchor}"' in page


# -- the new-project rate limit ------------------------------------------------------------
def test_rate_limit_counts_projects_refused_later_not_names_refused(tmp_path) -> None:
    """_check_ratelimits before the name checks, _hit_ratelimits after create_project."""
    with Harness(tmp_path, new_project_limit=1) as h:
        token = h.mint("carol")
        assert _upload(h, token, "tomllib", wheel("tomllib")).status == 400  # no hit
        first = f"p-{uuid.uuid4().hex[:10]}"
        filename, data = wheel(first)
        form = upload_fields(first, "1.0", data, extra={"sha256_digest": "0" * 64})
        assert h.post(form, (filename, data, "x"), token).status == 400  # hit, rolled back
        assert first not in {p["normalized_name"] for p in h.index().listing()["projects"]}
        second = f"p-{uuid.uuid4().hex[:10]}"
        answer = _upload(h, token, second, wheel(second))
        assert (answer.status, answer.reason) == (429, "Too many new projects created")


@pytest.mark.parametrize(
    ("extra", "status", "reason"),
    [
        ([("summary", ("s.txt", b"x", "text/plain"))], 400, "summary: Should not be a tuple."),
        # the route is chosen before sanitize runs: the 410 view has no sanitize
        (
            [("summary", ("s.txt", b"x", "text/plain")), (":action", "submit")],
            410,
            GONE_SUBMIT,
        ),
        # request.POST.get and request.params.get read webob's LAST value
        ([("protocol_version", "2"), ("protocol_version", "1")], 200, "OK"),
        ([("protocol_version", "1"), ("protocol_version", "2")], 400, "Unknown protocol version."),
        ([(":action", "file_upload"), (":action", "submit")], 410, GONE_SUBMIT),
    ],
    ids=["tuple", "tuple-on-gone-route", "protocol-last-1", "protocol-last-2", "action-last"],
)
def test_repeated_and_file_fields_as_webob_reads_them(
    tmp_path, extra: list[tuple[str, Any]], status: int, reason: str
) -> None:
    with Harness(tmp_path) as h:
        token = h.mint("hank")
        name = f"p-{uuid.uuid4().hex[:10]}"
        filename, data = wheel(name)
        keys = {k for k, _ in extra}
        fields = [(k, v) for k, v in upload_fields(name, "1.0", data).items() if k not in keys]
        answer = h.post(fields + extra, (filename, data, "application/octet-stream"), token)
        assert (answer.status, answer.reason) == (status, reason)


@pytest.mark.parametrize(
    ("header", "status", "reason"),
    [
        (b"Content-Type: \r\n", 400, "Invalid distribution file."),
        (b"", 200, "OK"),  # none: cgi.FieldStorage's text/plain
    ],
    ids=["empty", "missing"],
)
def test_content_type_as_cgi_reads_it(tmp_path, header: bytes, status: int, reason: str) -> None:
    """file_upload's content-type rule sees ``cgi.FieldStorage.type``."""
    with Harness(tmp_path) as h:
        token = h.mint("gina")
        name = f"p-{uuid.uuid4().hex[:10]}"
        filename, data = wheel(name)
        fields = upload_fields(name, "1.0", data)
        marker = b"Content-Type: application/x-test\r\n"

        def edit(body: bytes) -> bytes:
            assert body.count(marker) == 1
            return body.replace(marker, header)

        answer = h.post(fields, (filename, data, "application/x-test"), token, edit=edit)
        assert (answer.status, answer.reason) == (status, reason)


def test_upload_respells_the_project_name(tmp_path) -> None:
    """file_upload: "Update name if it differs but is still equivalent"."""
    with Harness(tmp_path) as h:
        token = h.mint("frank")
        name = f"p-{uuid.uuid4().hex[:10]}"
        assert _upload(h, token, name, wheel(name)).status == 200
        respelled = name.upper().replace("-", ".")
        assert _upload(h, token, respelled, wheel(respelled, "2.0")).status == 200
        assert [p["name"] for p in h.index().listing()["projects"]] == [respelled]


# -- index delete and the filename-reuse rule ---------------------------------------------
def test_delete_file_release_project_and_names_stay_taken(tmp_path) -> None:
    from tokentool.index import IndexRefusal

    with Harness(tmp_path) as h:
        token = h.mint("dave")
        name = f"p-{uuid.uuid4().hex[:10]}"
        built = wheel(name)
        assert _upload(h, token, name, built).status == 200
        assert _upload(h, token, name, sdist(name)).status == 200
        index = h.index()
        try:
            with pytest.raises(IndexRefusal, match="no file 'nope' of"):
                index.delete(name, "1.0", "nope")
            assert index.delete(name, "1.0", built[0]) == [built[0]]
            assert not (h.db.packages_dir / built[0]).exists()
            assert index.delete(name) == [sdist(name)[0]]
            assert index.listing()["projects"] == []
        finally:
            index.close()
        again = _upload(h, token, name, built)
        assert (again.status, again.reason) == (
            400,
            "This filename was previously used by a file that has since been deleted. Use a "
            f"different version. See {HELP}file-name-reuse for more information.",
        )
        assert _upload(h, token, name, wheel(name, "1.1")).status == 200  # a new version is fine


# -- hostile archives at the default limits: bounded work ------------------------------------
def _gzip_member(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


def zero_bomb(name: str, gib: int = 4) -> tuple[str, bytes]:
    """A ~4 MiB .tar.gz whose one member is ``gib`` GiB of zeros (multi-member gzip)."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-1.0"
    zeros = _gzip_member(bytes(1024**2))
    head = _gzip_member(_tar_header(f"{stem}/PKG-INFO", 0) + _tar_header(f"{stem}/z", gib << 30))
    return f"{stem}.tar.gz", head + zeros * (gib * 1024)


def member_bomb(name: str, members: int = 2_000_000) -> tuple[str, bytes]:
    """A .tar.gz of ``members`` empty members (all one name) in ~2 MiB."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-1.0"
    block = _gzip_member(_tar_header(f"{stem}/e", 0) * 1000)
    head = _gzip_member(_tar_header(f"{stem}/PKG-INFO", 0))
    return f"{stem}.tar.gz", head + block * (members // 1000)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (zero_bomb, "Invalid distribution file. File exceeds compression ratio of 50"),
        (member_bomb, "Invalid distribution file. Too many members in archive (limit 50000)"),
    ],
    ids=["4GiB-of-zeros", "2M-members"],
)
def test_archive_bombs_are_refused_after_bounded_work(tmp_path, build, reason) -> None:
    # the default limits: 64 MiB / ratio 50, 50000 members
    with Harness(tmp_path) as h:
        name = f"p-{uuid.uuid4().hex[:10]}"
        built = build(name)
        assert len(built[1]) < 8 * 1024**2
        answer = _upload(h, h.mint("eve"), name, built)
    assert (answer.status, answer.reason) == (400, reason)


# -- the YARA scan's own bounds (rules/malware.py, warehouse/utils/scanner.py) ---------


def test_past_50_MiB_members_are_scanned_one_by_one_and_the_first_match_wins() -> None:
    from tokentool.index.rules import malware

    filler = b"#" * (5 * 1024 * 1024)
    members = [(f"m{i}.py", len(filler), filler) for i in range(11)]  # 55 MiB: overflow
    members.append(("late.py", 17, b"__pyarmor_bcc__()"))
    members.append(("later.pye", len(PYE), PYE))
    match = malware.first_match(members)
    assert match is not None and (match.member, match.rule) == ("late.py", "tokentool_pyarmor")
    assert "PyArmor-encrypted content is not allowed." in match.message
    assert malware.first_match(members[:11]) is None


def test_rules_that_do_not_compile_let_uploads_through(tmp_path, monkeypatch) -> None:
    """scanner.compile_rules: fail-open, as warehouse does (logged, nothing refused)."""
    from tokentool.index.rules import malware

    (tmp_path / "broken.yar").write_text("rule { nonsense")
    monkeypatch.setattr(malware, "RULES_DIR", tmp_path)
    malware.compiled_rules.cache_clear()
    try:
        assert malware.compiled_rules() is None
        assert malware.first_match([("a.py", len(OBFUSCATED), OBFUSCATED)]) is None
    finally:
        monkeypatch.undo()
        malware.compiled_rules.cache_clear()
    assert malware.first_match([("a.py", len(OBFUSCATED), OBFUSCATED)]) is not None
