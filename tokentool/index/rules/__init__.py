"""Warehouse's upload rules, one small function each, in warehouse's order.

``_upload.PIPELINE`` is the one table: ``file_upload``'s stages
(``warehouse/forklift/legacy.py``), one row per rule, from the form to the
recording transaction; ``_upload.Uploads.handle`` applies it. The rules live
here by area: ``form`` (``UploadForm``), ``metadata`` (``METADATA_RULES``,
every error collected, as ``_validate_metadata``), ``names``
(``check_project_name``), ``description`` (the readme renders), ``files``
(name, type, sizes, digests, duplicates, sdist and wheel names), ``archives``
(``_is_valid_dist_file`` and the wheel's members).

Adding a rule: write the function in the module of its area, naming the
warehouse function it follows, and add one row to ``_upload.PIPELINE``
where warehouse checks it.
"""

from __future__ import annotations

from tokentool.index.rules import archives, description, files, form, metadata, names
from tokentool.index.rules._base import (
    GIB,
    MIB,
    TITLES,
    Duplicate,
    Lookups,
    Rule,
    Site,
    Upload,
    UploadError,
    UploadForm,
    apply,
)
from tokentool.index.rules.form import validate_upload_form
from tokentool.index.rules.metadata import METADATA_RULES, validate_metadata

__all__ = [
    "GIB",
    "METADATA_RULES",
    "MIB",
    "TITLES",
    "Duplicate",
    "Lookups",
    "Rule",
    "Site",
    "Upload",
    "UploadError",
    "UploadForm",
    "apply",
    "archives",
    "description",
    "files",
    "form",
    "metadata",
    "names",
    "validate_metadata",
    "validate_upload_form",
]
