"""Core metadata from the upload form: ``warehouse/forklift/metadata.py``.

``packaging.metadata`` validates first; then warehouse's own rules, one
function each in ``METADATA_RULES`` (warehouse's ``_validate_metadata``, in
its order). Every error of every rule is collected, and the answer names one:
the first error of the most important field (``file_upload``'s
``_error_message_order``).
"""

from __future__ import annotations

import email.utils
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from packaging.metadata import (
    _LIST_FIELDS,
    _RAW_TO_EMAIL_MAPPING,
    _STRING_FIELDS,
    ExceptionGroup,
    InvalidMetadata,
    Metadata,
    RawMetadata,
    _parse_keywords,
    _parse_project_urls,
)
from packaging.requirements import InvalidRequirement, Requirement
from rfc3986 import exceptions as uri_exceptions
from rfc3986 import uri_reference, validators
from trove_classifiers import all_classifiers, deprecated_classifiers

from tokentool.index.rules import _workers
from tokentool.index.rules._base import CORE_METADATA_HELP, ERROR_ORDER, UploadError

SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})
LOCAL_VERSION_HELP = (
    "https://packaging.python.org/en/latest/specifications/"
    "version-specifiers/#local-version-identifiers"
)

# warehouse.forklift.metadata.DYNAMIC_FIELDS
DYNAMIC_FIELDS = frozenset(
    field.lower()
    for field in (
        "Platform",
        "Supported-Platform",
        "Summary",
        "Description",
        "Description-Content-Type",
        "Keywords",
        "Home-Page",
        "Download-Url",
        "Author",
        "Author-Email",
        "Maintainer",
        "Maintainer-Email",
        "License",
        "License-Expression",
        "License-File",
        "Classifier",
        "Requires-Dist",
        "Requires-Python",
        "Requires-External",
        "Project-Url",
        "Provides-Extra",
        "Provides-Dist",
        "Obsoletes-Dist",
        "Requires",
        "Provides",
        "Obsoletes",
        "Import-Name",
        "Import-Namespace",
    )
)
LENGTH_LIMITS = {"summary": 512}

# warehouse.forklift.metadata._FORM_TO_RAW_MAPPING: form field -> RawMetadata key
_OVERRIDE = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
    "import_names": "import_name",
    "import_namespaces": "import_namespace",
}
_FORM_TO_RAW = {_OVERRIDE.get(k, k): k for k in _RAW_TO_EMAIL_MAPPING}


def _email_name(field: str) -> str:
    return _RAW_TO_EMAIL_MAPPING.get(field, field)


# warehouse.forklift.metadata.parse_form_metadata
def parse_form_metadata(form: Mapping[str, Sequence[str]]) -> Metadata:
    raw: dict[str, object] = {}
    unparsed: list[str] = []
    for name in form:
        raw_name = _FORM_TO_RAW.get(name)
        if raw_name is None:
            continue
        value = list(form[name])
        if value == [""]:
            continue
        if raw_name in _STRING_FIELDS and len(value) == 1:
            raw[raw_name] = value[0]
        elif raw_name in _LIST_FIELDS:
            raw[raw_name] = value
        elif raw_name == "keywords" and len(value) == 1:
            raw[raw_name] = _parse_keywords(value[0])
        elif raw_name == "project_urls":
            try:
                raw[raw_name] = _parse_project_urls(value)
            except KeyError:
                unparsed.append(name)
        else:
            unparsed.append(name)
    if unparsed:
        raise ExceptionGroup(
            "unparsed", [InvalidMetadata(key, f"{key!r} has invalid data") for key in unparsed]
        )
    return Metadata.from_raw(typing.cast(RawMetadata, raw))


# warehouse.utils.http.is_valid_uri(url, require_authority=False)
def is_valid_uri(uri: str) -> bool:
    reference = uri_reference(uri).normalize()
    validator = validators.Validator().allow_schemes("http", "https")
    validator.require_presence_of("scheme")
    validator.check_validity_of("scheme", "host", "port", "path", "query")
    try:
        validator.validate(reference)
    except uri_exceptions.ValidationError:
        return False
    return True


# -- warehouse.forklift.metadata._validate_metadata, one rule per check --------------
MetadataRule = Callable[[Metadata], Iterable[InvalidMetadata]]


def supported_metadata_version(meta: Metadata) -> Iterator[InvalidMetadata]:
    if meta.metadata_version not in SUPPORTED_METADATA_VERSIONS:
        yield InvalidMetadata(
            "metadata-version", f"{meta.metadata_version!r} is not a valid metadata version"
        )


def no_local_version(meta: Metadata) -> Iterator[InvalidMetadata]:
    if meta.version.local:
        yield InvalidMetadata(
            "version", f"The use of local versions in '{meta.version}' is not allowed."
        )


def length_limits(meta: Metadata) -> Iterator[InvalidMetadata]:
    for field, limit in LENGTH_LIMITS.items():
        value = getattr(meta, field)
        if isinstance(value, str) and len(value) > limit:
            name = _email_name(field)
            yield InvalidMetadata(name, f"{name!r} field must be {limit} characters or less.")


def valid_emails(meta: Metadata) -> Iterator[InvalidMetadata]:
    found = []
    for field in ("author_email", "maintainer_email"):
        if (addr := getattr(meta, field)) is not None:
            _, address = email.utils.parseaddr(addr)
            if address:
                found.append((field, address))
    # email-validator can cost minutes on one crafted address: it runs in a validator
    # worker with the upload's budget, unless a cheap check knows its words already.
    words = {address: _without_at_sign(address) for _field, address in found}
    slow = [address for address, said in words.items() if said is _UNKNOWN]
    if slow:
        size = sum(sys.getsizeof(address) for address in slow)
        words.update(zip(slow, _workers.run("emails", slow, size=size), strict=True))
    for field, address in found:
        if words[address] is not None:
            yield InvalidMetadata(
                _email_name(field), f"{address!r} is not a valid email address: {words[address]}"
            )


_UNKNOWN = "?"


def _without_at_sign(address: str) -> str | None:
    """email-validator's words, known without running it, or ``_UNKNOWN``.

    Provably the same: ``split_email`` first splits at the first unquoted "@" or
    "<"; with neither in the text, every branch of its loop keeps the character,
    so it always ends in its "no @-sign" error, whose words depend only on these
    two look-alike characters (email_validator 2.3.0, ``syntax.split_email``).
    """
    if "@" in address or "<" in address:
        return _UNKNOWN
    if "\uff20" in address:
        return (
            'The email address has the "full-width" at-sign (@) character instead of a '
            "regular at-sign."
        )
    if "\ufe6b" in address:
        return (
            'The email address has the "small commercial at" character instead of a '
            "regular at-sign."
        )
    return "An email address must have an @-sign."


def known_classifiers(meta: Metadata) -> Iterator[InvalidMetadata]:
    for c in sorted(set(meta.classifiers or []) - set(all_classifiers)):
        yield InvalidMetadata("classifier", f"{c!r} is not a valid classifier.")


def no_deprecated_classifiers(meta: Metadata) -> Iterator[InvalidMetadata]:
    for c in sorted(set(meta.classifiers or []) & deprecated_classifiers.keys()):
        deprecated_by = deprecated_classifiers[c]
        if deprecated_by:
            yield InvalidMetadata(
                "classifier",
                f"The classifier {c!r} has been deprecated, use one of {deprecated_by} instead.",
            )
        else:
            yield InvalidMetadata("classifier", f"The classifier {c!r} has been deprecated.")


def valid_urls(meta: Metadata) -> Iterator[InvalidMetadata]:
    for field in ("home_page", "download_url"):
        if (url := getattr(meta, field)) is not None and not is_valid_uri(url):
            yield InvalidMetadata(_email_name(field), f"{url!r} is not a valid url.")


def valid_project_urls(meta: Metadata) -> Iterator[InvalidMetadata]:
    for label, url in (meta.project_urls or {}).items():
        if not label:
            yield InvalidMetadata("project-url", "Must have a label")
        elif len(label) > 32:
            yield InvalidMetadata("project-url", f"{label!r} must be 32 characters or less.")
        elif not url:
            yield InvalidMetadata("project-url", "Must have a URL")
        elif not is_valid_uri(url):
            yield InvalidMetadata("project-url", f"{url!r} is not a valid url")


def valid_provides_obsoletes_dist(meta: Metadata) -> Iterator[InvalidMetadata]:
    for field in ("provides_dist", "obsoletes_dist"):
        for req_str in getattr(meta, field) or []:
            try:
                req = Requirement(req_str)
            except InvalidRequirement as exc:
                yield InvalidMetadata(_email_name(field), f"{req_str!r} is invalid: {exc}")
            else:
                if req.url is not None:
                    yield InvalidMetadata(
                        _email_name(field), f"Can't have direct dependency: {req_str!r}"
                    )


def no_direct_dependencies(meta: Metadata) -> Iterator[InvalidMetadata]:
    for req in meta.requires_dist or []:
        if req.url is not None:
            yield InvalidMetadata(
                _email_name("requires_dist"), f"Can't have direct dependency: {req}"
            )


def valid_dynamic_fields(meta: Metadata) -> Iterator[InvalidMetadata]:
    for key in meta.dynamic or []:
        if key not in DYNAMIC_FIELDS:
            yield InvalidMetadata(
                _email_name("dynamic"), f"Dynamic field {key!r} is not a valid dynamic field."
            )


def license_or_expression(meta: Metadata) -> Iterator[InvalidMetadata]:
    if meta.license and meta.license_expression:
        yield InvalidMetadata(
            "license",
            "License is deprecated when License-Expression is present. "
            "Only License-Expression should be present.",
        )


#: warehouse's ``_validate_metadata``, in its order. One row per rule.
METADATA_RULES: tuple[MetadataRule, ...] = (
    supported_metadata_version,
    no_local_version,
    length_limits,
    valid_emails,
    known_classifiers,
    no_deprecated_classifiers,
    valid_urls,
    valid_project_urls,
    valid_provides_obsoletes_dist,
    no_direct_dependencies,
    valid_dynamic_fields,
    license_or_expression,
)


def _leaves(group: BaseException) -> list[InvalidMetadata]:
    if isinstance(group, InvalidMetadata):
        return [group]
    if isinstance(group, ExceptionGroup):
        return [leaf for exc in group.exceptions for leaf in _leaves(exc)]
    return []


# warehouse.forklift.legacy.file_upload: ``metadata.parse(None, form_data=...)`` and
# its ``except* metadata.InvalidMetadata`` answer.
def validate_metadata(form: Mapping[str, Sequence[str]]) -> Metadata:
    try:
        meta = parse_form_metadata(form)
        errors = [error for rule in METADATA_RULES for error in rule(meta)]
    except ExceptionGroup as group:
        errors = _leaves(group)
        if not errors:
            raise
    except ValueError:
        # Stand-in only: a value packaging cannot even represent (a version with more
        # digits than int() takes) is a 500 on the site; a 400 here, never a crash.
        raise UploadError(
            400, f"Invalid metadata. See {CORE_METADATA_HELP} for more information."
        ) from None
    if not errors:
        return meta
    by_field: dict[str, list[InvalidMetadata]] = {}
    for error in errors:
        by_field.setdefault(error.field, []).append(error)
    field = next((f for f in ERROR_ORDER if f in by_field), sorted(by_field)[0])
    message = str(by_field[field][0])
    see = (
        LOCAL_VERSION_HELP
        if field == "version" and any("use of local versions" in str(e) for e in by_field[field])
        else CORE_METADATA_HELP
    )
    raise UploadError(
        400, f"{message}{'' if message.endswith('.') else '.'} See {see} for more information."
    )
