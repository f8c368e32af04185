"""Warehouse's upload rules, one small function each, in tables in warehouse's order.

``_upload.Uploads._judge`` walks the stages of ``file_upload``
(``warehouse/forklift/legacy.py``) and applies each table where warehouse
checks it:

1. ``form.validate_upload_form`` then ``metadata.validate_metadata``
   (``metadata.METADATA_RULES``);
2. a new project: ``names.NAME_RULES`` (``check_project_name``), between the
   rate-limit test and the rate-limit hit;
3. after the token's scope: ``RELEASE_RULES`` (the description renders);
4. the file: ``files.BEFORE_CONTENT`` (name, type, sizes), then, once it is on
   disk and hashed, ``files.AFTER_CONTENT`` (digests ... attestations).

Adding a rule: write the function in the module of its area, naming the
warehouse function it follows, and add one row to its table.
"""

from __future__ import annotations

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
    apply,
)
from tokentool.index.rules.description import description_renders
from tokentool.index.rules.files import AFTER_CONTENT, BEFORE_CONTENT
from tokentool.index.rules.form import UploadForm, validate_upload_form
from tokentool.index.rules.metadata import METADATA_RULES, validate_metadata
from tokentool.index.rules.names import NAME_RULES

#: After the scope check, before the file (file_upload: "Render our description").
RELEASE_RULES: tuple[Rule, ...] = (description_renders,)

__all__ = [
    "AFTER_CONTENT",
    "BEFORE_CONTENT",
    "GIB",
    "METADATA_RULES",
    "MIB",
    "NAME_RULES",
    "RELEASE_RULES",
    "TITLES",
    "Duplicate",
    "Lookups",
    "Rule",
    "Site",
    "Upload",
    "UploadError",
    "UploadForm",
    "apply",
    "validate_metadata",
    "validate_upload_form",
]
