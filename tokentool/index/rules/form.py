"""The upload form: ``warehouse/forklift/forms.py`` ``UploadForm`` and how
``file_upload`` words its first error.

Field validators run first (wtforms), then ``UploadForm.validate``'s
combinations. The message names one field: the first of
``_error_message_order`` with an error, else the alphabetically first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tokentool.index.rules._base import CORE_METADATA_HELP, ERROR_ORDER, UploadError, UploadForm

# warehouse.utils.project.PROJECT_NAME_RE
PROJECT_NAME_RE = re.compile(
    r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE | re.ASCII
)
_HEX64 = re.compile(r"^[A-F0-9]{64}$", re.IGNORECASE)
FILETYPE_EXTENSIONS = {"sdist": (".zip", ".tar.gz"), "bdist_wheel": (".whl",)}


def _first(form: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = form.get(key) or []
    return values[0] if values else None


def _present(value: str | None) -> bool:
    """wtforms' ``Optional``: absent or blank means 'not given'."""
    return value is not None and bool(value.strip())


# warehouse.forklift.forms.UploadForm (+ file_upload's error wording)
def validate_upload_form(form: Mapping[str, Sequence[str]]) -> UploadForm:
    errors: dict[str, str] = {}
    name = _first(form, "name")
    if not name:
        errors["name"] = "This field is required."
    elif not PROJECT_NAME_RE.match(name):
        errors["name"] = (
            "Start and end with a letter or numeral containing only ASCII numeric "
            "and '.', '_' and '-'."
        )
    filetype = _first(form, "filetype")
    if not filetype:
        errors["filetype"] = "This field is required."
    elif filetype not in FILETYPE_EXTENSIONS:
        errors["filetype"] = "Use a known file type."
    sha256 = _first(form, "sha256_digest")
    if _present(sha256) and not _HEX64.match(sha256 or ""):
        errors["sha256_digest"] = "Use a valid, hex-encoded, SHA256 message digest."
    blake2 = _first(form, "blake2_256_digest")
    if _present(blake2) and not _HEX64.match(blake2 or ""):
        errors["blake2_256_digest"] = "Use a valid, hex-encoded, BLAKE2 message digest."
    if errors:
        field = next((f for f in ERROR_ORDER if f in errors), sorted(errors)[0])
        if field == "name":
            value = name or ""
            shown = value[:30] + "..." + value[-30:] if len(value) > 60 else value
            raise UploadError(
                400,
                f"{shown!r} is an invalid value for Name. Error: {errors[field]} "
                f"See {CORE_METADATA_HELP} for more information.",
            )
        raise UploadError(400, f"Invalid value for {field}. Error: {errors[field]}")

    pyversion = _first(form, "pyversion") or ""
    if filetype != "sdist" and not pyversion:
        raise UploadError(
            400,
            "Invalid value for pyversion. "
            "Error: Python version is required for binary distribution uploads.",
        )
    if filetype == "sdist":
        if not pyversion:
            pyversion = "source"
        elif pyversion != "source":
            raise UploadError(
                400,
                "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist.",
            )
    md5 = _first(form, "md5_digest") or ""
    if not (md5 or sha256 or blake2):
        raise UploadError(400, "Error: Include at least one message digest.")
    assert name is not None and filetype is not None
    return UploadForm(
        name=name,
        filetype=filetype,
        pyversion=pyversion,
        # As sent: wtforms' Optional stops the validators of a blank value but keeps
        # it as the field's data, and file_upload compares any non-empty data with
        # the computed digest, so " " or a digest with a trailing newline (which the
        # "$" of the Regexp lets through) is a mismatch there.
        md5_digest=md5,
        sha256_digest=sha256 or "",
        blake2_256_digest=blake2 or "",
    )
