"""The upload form and its metadata, judged with warehouse's rules and words.

Warehouse validates in two passes before it looks at the project: its small
``UploadForm`` (name, file type, digests, Python version) and then the core
metadata through ``packaging.metadata``. Both are reproduced here because the
stand-in's 400s are only useful if they name the same field in the same words.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping, Sequence

from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata, RawMetadata

PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_HEX64 = re.compile(r"^[A-F0-9]{64}$", re.IGNORECASE)
FILETYPES = ("sdist", "bdist_wheel")
# warehouse.forklift.metadata.SUPPORTED_METADATA_VERSIONS (no 2.0; 2.5 adds Import-Name).
SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})
_ERROR_ORDER = ("metadata_version", "name", "version")
CORE_METADATA_HELP = "https://packaging.python.org/specifications/core-metadata"

#: Form field -> RawMetadata key, where twine renames them.
_FORM_RENAMES = {
    "platform": "platforms",
    "supported_platform": "supported_platforms",
    "license_file": "license_files",
    "import_name": "import_names",
    "import_namespace": "import_namespaces",
}


class FormError(Exception):
    """A 400 whose message is the reason phrase."""


@dataclasses.dataclass(frozen=True)
class UploadForm:
    name: str
    filetype: str
    pyversion: str
    md5_digest: str
    sha256_digest: str
    blake2_256_digest: str


def _first(form: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = form.get(key) or []
    return values[0] if values else None


def _present(value: str | None) -> bool:
    """wtforms' ``Optional``: absent or blank means 'not given'."""
    return value is not None and bool(value.strip())


def validate_upload_form(form: Mapping[str, Sequence[str]]) -> UploadForm:
    """Warehouse's UploadForm: field validators first, then the combinations."""
    errors: dict[str, str] = {}
    name = _first(form, "name")
    if not name:
        errors["name"] = "This field is required."
    elif not PROJECT_NAME_RE.fullmatch(name):
        errors["name"] = (
            "Start and end with a letter or numeral containing only ASCII numeric "
            "and '.', '_' and '-'."
        )
    filetype = _first(form, "filetype")
    if not filetype:
        errors["filetype"] = "This field is required."
    elif filetype not in FILETYPES:
        errors["filetype"] = "Use a known file type."
    sha256 = _first(form, "sha256_digest")
    if _present(sha256) and not _HEX64.match(sha256 or ""):
        errors["sha256_digest"] = "Use a valid, hex-encoded, SHA256 message digest."
    blake2 = _first(form, "blake2_256_digest")
    if _present(blake2) and not _HEX64.match(blake2 or ""):
        errors["blake2_256_digest"] = "Use a valid, hex-encoded, BLAKE2 message digest."
    if errors:
        field = next((f for f in _ERROR_ORDER if f in errors), sorted(errors)[0])
        if field == "name":
            value = name or ""
            shown = value[:30] + "..." + value[-30:] if len(value) > 60 else value
            raise FormError(
                f"{shown!r} is an invalid value for Name. Error: {errors[field]} "
                f"See {CORE_METADATA_HELP} for more information."
            )
        raise FormError(f"Invalid value for {field}. Error: {errors[field]}")

    pyversion = _first(form, "pyversion") or ""
    if filetype != "sdist" and not pyversion:
        raise FormError(
            "Invalid value for pyversion. "
            "Error: Python version is required for binary distribution uploads."
        )
    if filetype == "sdist":
        if not pyversion:
            pyversion = "source"
        elif pyversion != "source":
            raise FormError(
                "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist."
            )
    md5 = _first(form, "md5_digest") or ""
    if not (md5 or sha256 or blake2):
        raise FormError("Error: Include at least one message digest.")
    assert name is not None and filetype is not None
    return UploadForm(
        name=name,
        filetype=filetype,
        pyversion=pyversion,
        md5_digest=md5.strip() if _present(md5) else "",
        sha256_digest=(sha256 or "").strip() if _present(sha256) else "",
        blake2_256_digest=(blake2 or "").strip() if _present(blake2) else "",
    )


_RAW_TYPES = typing.get_type_hints(RawMetadata)


def _raw_metadata(form: Mapping[str, Sequence[str]]) -> RawMetadata:
    raw: dict[str, object] = {}
    unparsed: list[str] = []
    for key in sorted(form):
        raw_name = _FORM_RENAMES.get(key, key)
        kind = _RAW_TYPES.get(raw_name)
        if kind is None or key in _FORM_RENAMES.values():
            continue
        values = list(form[key])
        if kind is str and len(values) == 1:
            raw[raw_name] = values[0]
        elif raw_name == "keywords" and len(values) == 1:
            raw[raw_name] = [k.strip() for k in values[0].split(",")]
        elif raw_name == "project_urls":
            urls: dict[str, str] = {}
            for pair in values:
                label, _, url = (part.strip() for part in pair.partition(","))
                if label in urls:
                    unparsed.append(key)
                    break
                urls[label] = url
            else:
                raw[raw_name] = urls
        elif kind == list[str]:
            raw[raw_name] = values
        else:
            unparsed.append(key)
    if unparsed:
        raise ExceptionGroup(
            "unparsed", [InvalidMetadata(k, f"{k!r} has invalid data") for k in unparsed]
        )
    return typing.cast(RawMetadata, raw)


def validate_metadata(form: Mapping[str, Sequence[str]]) -> Metadata:
    """``packaging.metadata`` plus warehouse's own rules (versions it knows, no local part)."""
    try:
        meta = Metadata.from_raw(_raw_metadata(form))
    except ExceptionGroup as group:
        _raise_first(_leaves(group))
        raise  # pragma: no cover - _raise_first always raises for packaging's groups
    except ValueError:  # e.g. a version with more digits than int() accepts
        raise FormError(
            f"Invalid metadata. See {CORE_METADATA_HELP} for more information."
        ) from None
    errors: list[InvalidMetadata] = []
    if meta.metadata_version not in SUPPORTED_METADATA_VERSIONS:
        errors.append(
            InvalidMetadata(
                "metadata-version", f"{meta.metadata_version!r} is not a valid metadata version"
            )
        )
    if meta.version.local:
        errors.append(
            InvalidMetadata(
                "version", f"The use of local versions in {meta.version!r} is not allowed."
            )
        )
    if errors:
        _raise_first(errors)
    return meta


def _raise_first(errors: list[Exception]) -> None:
    """Warehouse reports one error: the most important field's first."""
    by_field: dict[str, list[Exception]] = {}
    for error in errors:
        by_field.setdefault(str(getattr(error, "field", "")), []).append(error)
    if not by_field:
        return
    field = next((f for f in _ERROR_ORDER if f in by_field), sorted(by_field)[0])
    message = str(by_field[field][0])
    if not message.endswith("."):
        message += "."
    raise FormError(f"{message} See {CORE_METADATA_HELP} for more information.")


def _leaves(group: BaseException) -> list[Exception]:
    if not isinstance(group, ExceptionGroup):
        return [group] if isinstance(group, Exception) else []
    found: list[Exception] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc))
    return found
