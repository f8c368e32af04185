"""The file: ``warehouse/forklift/legacy.py`` ``file_upload`` from the filename
on, in its order (``_validate_filename``, content type, sizes, digests,
duplicates, filename reuse, release age, one sdist, archive, sdist and wheel
names, platform tags, wheel contents, attestations).
"""

from __future__ import annotations

import hmac
import re
import time

import packaging.utils
import packaging.version
from packaging.utils import canonicalize_name, canonicalize_version

from tokentool.index.rules._base import GIB, MIB, Duplicate, Rule, Upload, UploadError
from tokentool.index.rules.form import FILETYPE_EXTENSIONS
from tokentool.token import INTERNAL_ERROR

MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS = 14
_DIST_FILE_RE = re.compile(r".+?(?P<extension>\.(tar\.gz|zip|whl))$", re.IGNORECASE)


# warehouse.forklift.legacy._validate_filename
def filename_characters(up: Upload) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in up.filename):
        raise UploadError(
            400,
            "Cannot upload a file with non-printable characters (ordinals 0-31) "
            "or the DEL character (ordinal 127) in the name.",
        )


def filename_separators(up: Upload) -> None:
    if "/" in up.filename or "\\" in up.filename:
        raise UploadError(400, "Cannot upload a file with '/' or '\\' in the name.")


def filename_extension(up: Upload) -> None:
    match = _DIST_FILE_RE.match(up.filename)
    if match is None:
        raise UploadError(
            400,
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
            "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
            "for more information",
        )
    # Matched case-insensitively, compared as written: ".TAR.GZ" is refused here.
    extension = match.group("extension")
    if extension not in FILETYPE_EXTENSIONS[up.filetype]:
        raise UploadError(
            400,
            f"Invalid file extension: Extension {extension} is invalid for filetype "
            f"{up.filetype}. See https://www.python.org/dev/peps/pep-0527 for more information.",
        )


# "Check the content type of what is being uploaded"
def content_type(up: Upload) -> None:
    if not up.content_type or up.content_type.startswith("image/"):
        raise UploadError(400, "Invalid distribution file.")


# Project.upload_limit_size and total_size_limit_value, checked while the file streams
# in: file_upload reads 8096-byte chunks and after each one tests the file limit,
# then the project limit. So the project limit wins when the file crosses it in an
# earlier chunk than the file limit (a project close to full, a large file).
#: Linux's NAME_MAX, which warehouse's temporary directory has.
NAME_MAX = 255


# file_upload: ``open(os.path.join(tmpdir, filename), "wb")`` comes right after the
# content type; a name past NAME_MAX bytes raises OSError (ENAMETOOLONG) there, which
# nothing catches: the site answers 500.
def filename_length(up: Upload) -> None:
    if len(up.filename.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise UploadError(500, INTERNAL_ERROR)


_CHUNK = 8096


def _crossed_in(limit: int) -> int:
    """The chunk (0-based) after which a running size first exceeds ``limit``."""
    return limit // _CHUNK


def file_size(up: Upload) -> None:
    limit = up.site.max_upload_size
    if up.size > limit:
        room = up.site.max_project_size - up.project_total_size
        if up.size > room and _crossed_in(room) < _crossed_in(limit):
            project_size(up)
        raise UploadError(
            400,
            f"File too large. Limit for project {up.project_name!r} is {limit // MIB} MB. "
            "See "
            + up.site.user_docs(
                "/project-management/storage-limits", "requesting-a-file-size-limit-increase"
            )
            + " for more information.",
        )


def project_size(up: Upload) -> None:
    limit = up.site.max_project_size
    if up.size + up.project_total_size > limit:
        # Warehouse's sentence ends without " for more information.".
        raise UploadError(
            400,
            f"Project size too large. Limit for project {up.project_name!r} total size is "
            f"{limit // GIB} GB. See "
            + up.site.user_docs(
                "/project-management/storage-limits", "requesting-a-project-size-limit-increase"
            ),
        )


# -- once the file is on disk and hashed --------------------------------------------
def digests_match(up: Upload) -> None:
    assert up.form is not None
    given = {
        "md5": up.form.md5_digest,
        "sha256": up.form.sha256_digest,
        "blake2_256": up.form.blake2_256_digest,
    }
    if not all(
        hmac.compare_digest(value.lower(), up.hashes[name])
        for name, value in given.items()
        if value
    ):
        raise UploadError(
            400, "The digest supplied does not match a digest calculated from the uploaded file."
        )


# _is_duplicate_file: same name or same blake2 digest
def not_duplicate(up: Upload) -> None:
    existing = up.lookups.conflicting_file(up.filename, up.hashes["blake2_256"])
    if existing is None:
        return
    if (
        existing.filename == up.filename
        and existing.sha256_digest == up.hashes["sha256"]
        and existing.blake2_256_digest == up.hashes["blake2_256"]
    ):
        raise Duplicate
    # twine's --skip-existing relies on the first words: "File already exists".
    raise UploadError(
        400,
        f"File already exists ({up.filename!r}, with blake2_256 hash "
        f"{up.hashes['blake2_256']!r}). See {up.site.help('file-name-reuse')} "
        "for more information.",
    )


def filename_not_reused(up: Upload) -> None:
    if up.lookups.filename_deleted(up.filename):
        raise UploadError(
            400,
            "This filename was previously used by a file that has since been deleted. "
            f"Use a different version. See {up.site.help('file-name-reuse')} "
            "for more information.",
        )


def release_still_open(up: Upload) -> None:
    assert up.meta is not None
    if up.project is None:
        return
    created = up.lookups.release_created(up.project.id, canonicalize_version(up.meta.version))
    if created is not None and created < time.time() - MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS * 86400:
        raise UploadError(
            400,
            f"Uploading new files to releases older than {MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS} "
            "days is not allowed.",
        )


def one_sdist_per_release(up: Upload) -> None:
    assert up.meta is not None
    if up.project is None or up.filetype != "sdist":
        return
    if up.lookups.has_sdist(up.project.id, canonicalize_version(up.meta.version)):
        raise UploadError(400, "Only one sdist may be uploaded per release.")


# -- sdist names ---------------------------------------------------------------------
def sdist_filename(up: Upload) -> None:
    assert up.meta is not None
    if up.filetype != "sdist":
        return
    filename = up.filename
    try:
        name, _version = packaging.utils.parse_sdist_filename(filename)
    except packaging.utils.InvalidSdistFilename:
        raise UploadError(400, f"Invalid source distribution filename: {filename}") from None
    name_from_filename: str = name
    # Post-release versions may hold a hyphen: split on the second-to-last one.
    if (
        up.meta.version.is_postrelease
        and name_from_filename != canonicalize_name(up.meta.name)
        and filename.count("-") >= 2
    ):
        try:
            name_from_filename = filename.rpartition("-")[0].rpartition("-")[0]
            packaging.version.Version(filename[len(name_from_filename) + 1 : -len(".tar.gz")])
        except packaging.version.InvalidVersion:
            pass
    if canonicalize_name(name_from_filename) != up.normalized:
        raise UploadError(
            400,
            f"Start filename for {up.project_name!r} with {up.normalized.replace('-', '_')!r}.",
        )
    # PEP 625: the exact name, whatever the extension (so every .zip sdist is refused).
    expected = f"{up.normalized.replace('-', '_')}-{up.meta.version}.tar.gz"
    if filename != expected:
        raise UploadError(400, f"Filename {filename!r} is invalid, should be {expected!r}.")


def sdist_license_files(up: Upload) -> None:
    assert up.meta is not None
    if up.filetype != "sdist" or not up.meta.license_files:
        return
    summary = up.archive
    for license_file in up.meta.license_files:
        target = f"{summary.top_level}/{license_file}"
        if target not in summary.names:
            raise UploadError(
                400,
                f"License-File {license_file} does not exist in distribution file "
                f"{up.filename} at {target}",
            )


# -- wheel names and platform --------------------------------------------------------
_MACOSX_RE = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.*)")
_MACOSX_ARCHES = {
    "ppc",
    "ppc64",
    "i386",
    "x86_64",
    "arm64",
    "intel",
    "fat",
    "fat3",
    "fat64",
    "universal",
    "universal2",
}
_MACOSX_MAJOR_VERSIONS = {"11", "12", "13", "14", "15", "26"}
_IOS_RE = re.compile(r"ios_(\d+)_(\d+)_(?P<arch>.*)_(iphoneos|iphonesimulator)")
_IOS_ARCHES = {"arm64", "x86_64"}
_ANDROID_RE = re.compile(r"android_(\d+)_(?P<arch>.*)")
_ANDROID_ARCHES = {"armeabi_v7a", "arm64_v8a", "x86", "x86_64"}
_LINUX_RE = re.compile(r"(?P<libc>(many|musl))linux_(\d+)_(\d+)_(?P<arch>.*)")
_JOINT_LINUX_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"}
_MANYLINUX_ARCHES = _JOINT_LINUX_ARCHES | {"ppc64"}
_PYEMSCRIPTEN_RE = re.compile(r"pyemscripten_(?P<major>\d+)_(?P<minor>\d+)_wasm32")
_ALLOWED_PLATFORMS = {
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


# warehouse.forklift.legacy._valid_platform_tag (``match``: a prefix match, as there)
def valid_platform_tag(tag: str) -> bool:
    if tag in _ALLOWED_PLATFORMS:
        return True
    m = _MACOSX_RE.match(tag)
    if m and m.group("major") == "10" and m.group("arch") in _MACOSX_ARCHES:
        return True
    if (
        m
        and m.group("major") in _MACOSX_MAJOR_VERSIONS
        and m.group("minor") == "0"
        and m.group("arch") in _MACOSX_ARCHES
    ):
        return True
    m = _LINUX_RE.match(tag)
    if m and m.group("libc") == "musl":
        return m.group("arch") in _JOINT_LINUX_ARCHES
    if m and m.group("libc") == "many":
        return m.group("arch") in _MANYLINUX_ARCHES
    m = _IOS_RE.match(tag)
    if m and m.group("arch") in _IOS_ARCHES:
        return True
    m = _ANDROID_RE.match(tag)
    if m and m.group("arch") in _ANDROID_ARCHES:
        return True
    return bool(_PYEMSCRIPTEN_RE.match(tag))


def wheel_filename(up: Upload) -> None:
    assert up.meta is not None
    if not up.filename.endswith(".whl"):
        return
    try:
        name, version, _build, tags = packaging.utils.parse_wheel_filename(up.filename)
    except packaging.utils.InvalidWheelFilename as exc:
        raise UploadError(400, str(exc)) from None
    for tag in tags:
        if not valid_platform_tag(tag.platform):
            raise UploadError(
                400,
                f"Binary wheel '{up.filename}' has an unsupported platform tag '{tag.platform}'.",
            )
    canonical = canonicalize_name(up.meta.name)
    if canonical != name:
        raise UploadError(
            400,
            f"Start filename for {up.project_name!r} with {canonical.replace('-', '_')!r}.",
        )
    # PEP 427 / PEP 503: the name as written must be the normalized project name.
    name_from_filename = up.filename.split("-", 1)[0]
    normalized = up.normalized.replace("-", "_")
    if name_from_filename != normalized:
        raise UploadError(
            400,
            f"Filename {up.filename!r} should contain the normalized project name "
            f"{normalized!r}, not {name_from_filename!r}.",
        )
    if up.meta.version != version:
        raise UploadError(
            400,
            f"Version in filename should be {str(up.meta.version)!r} not {str(version)!r}.",
        )


def wheel_only(rule: Rule) -> Rule:
    """The wheel-content checks run for wheels only (``if filename.endswith(".whl")``)."""

    def run(up: Upload) -> None:
        if up.filename.endswith(".whl"):
            rule(up)

    run.__name__ = rule.__name__
    return run


# "If the user provided attestations, verify them": an API token is not a trusted
# publisher, and warehouse's integrity service refuses attestations from anything
# else with these words (warehouse/attestations/services.py parse_attestations).
def no_attestations_with_api_token(up: Upload) -> None:
    if "attestations" in up.fields:
        raise UploadError(
            400,
            "Invalid attestations supplied during upload: Attestations are only supported "
            "when using Trusted Publishing",
        )
