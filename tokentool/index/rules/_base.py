"""What every rule sees and how it refuses.

A rule is a small function that raises ``UploadError`` with warehouse's status
and words; the tables in ``tokentool.index.rules`` list them in warehouse's
order. ``Upload`` carries what is known at the stage the rule runs in: the
form fields first, then the parsed metadata, the project, the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokentool.index._db import ProjectRow
from tokentool.index._types import GIB, MIB, TITLES, Duplicate, Identity, UploadError

if TYPE_CHECKING:
    from packaging.metadata import Metadata

#: Shared with the rest of the stand-in: defined once, at the bottom (``_types``).
__all__ = [
    "CORE_METADATA_HELP",
    "ERROR_ORDER",
    "GIB",
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
]

#: The help link of ``file_upload``'s metadata and name errors.
CORE_METADATA_HELP = "https://packaging.python.org/specifications/core-metadata"
#: ``file_upload``'s ``_error_message_order``: the field an answer names first.
ERROR_ORDER = ("metadata-version", "name", "version")


@dataclasses.dataclass(frozen=True)
class UploadForm:
    """``warehouse/forklift/forms.py`` ``UploadForm``'s data, once validated (``form.py``)."""

    name: str
    filetype: str
    pyversion: str
    md5_digest: str
    sha256_digest: str
    blake2_256_digest: str


@dataclasses.dataclass
class Site:
    """The site settings an answer depends on; defaults are Test PyPI's (see warehouse's config)."""

    url: str = "http://localhost"
    #: warehouse.constants / Project.upload_limit_size default: 100 MiB a file.
    max_upload_size: int = 100 * MIB
    #: Project.total_size_limit_value default: 10 GiB a project.
    max_project_size: int = 10 * GIB
    #: PROJECT_CREATE_USER_RATELIMIT_STRING default "20 per hour" (0: no limit).
    new_project_limit: int = 20
    new_project_window: int = 3600
    #: ProhibitedProjectName rows: admins add them on the site; here the operator does.
    prohibited_names: frozenset[str] = frozenset()
    #: Not warehouse: bounds on the work one archive may cost (see rules/archives.py).
    max_archive_members: int = 50_000
    #: warehouse's ``userdocs.domain`` (USERDOCS_DOMAIN), default https://docs.pypi.org.
    docs_url: str = "https://docs.pypi.org"
    #: warehouse.forklift.legacy.COMPRESSION_RATIO_MIN_SIZE (a constant there; tests lower it).
    compression_min_size: int = 64 * MIB
    #: warehouse's ``forklift.domain`` (FORKLIFT_DOMAIN): None routes uploads on any host,
    #: and a POST without a known ``:action`` matches no route (404). Set, the upload
    #: routes match that host only (``predicates.DomainPredicate``), and there the
    #: catch-all ``forklift.legacy.invalid_request`` view, which allows GET, HEAD and
    #: OPTIONS (``csrf.require_method_view``), answers such a POST 405. Which one
    #: Test PyPI sets is not public: ``tokentool conformance`` asks it.
    forklift_domain: str | None = None
    #: The expensive validators' pool and budget (``rules/_workers.py``): worker
    #: processes at a time, seconds (gunicorn-uploads.conf.py ``timeout = 240``),
    #: and address space a worker may add (the stand-in's own bound).
    validator_workers: int = 2
    validator_seconds: float = 240.0
    validator_memory: int = 160 * MIB

    def help(self, anchor: str) -> str:
        """``request.help_url(_anchor=...)``: the stand-in's own /help/ page."""
        return f"{self.url}/help/#{anchor}"

    def user_docs(self, path: str, anchor: str) -> str:
        """``request.user_docs_url`` (forklift/__init__.py ``_user_docs_url``): the
        ``userdocs.domain`` setting, https://docs.pypi.org on the site as in
        warehouse's config, with ``path`` and ``#anchor``. Not the stand-in's own
        host: the site's words name docs.pypi.org, whichever index answers.
        The /help/ page explains the same anchors."""
        return f"{self.docs_url}{path}#{anchor}"


class Lookups:
    """What rules may ask the database; ``_upload`` passes its transaction's answers."""

    def __init__(self, **functions: Callable[..., Any]) -> None:
        self._functions = functions

    def __getattr__(self, name: str) -> Callable[..., Any]:
        try:
            return self._functions[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclasses.dataclass
class Upload:
    """One upload as the rules judge it, filled in stage by stage."""

    site: Site
    fields: Mapping[str, Sequence[str]]
    lookups: Lookups = dataclasses.field(default_factory=Lookups)
    identity: Identity | None = None
    #: ``request.POST["content"]`` (a multipart part), None when the form has no file
    content: Any = None
    form: UploadForm | None = None
    meta: Metadata | None = None
    #: the project as the first look found it (None: this upload creates it)
    project: ProjectRow | None = None
    # project: stored display name (or the typed one when new) and its normalized form
    project_name: str = ""
    normalized: str = ""
    project_total_size: int = 0
    # the file
    filename: str = ""
    content_type: str | None = None
    size: int = 0
    path: Path | None = None
    hashes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Filled by the archive rules for the rules after them (top-level dir, names found).
    archive: Any = None
    #: A wheel's METADATA, written beside the received file (PEP 658), and its digests.
    metadata_path: Path | None = None
    metadata_hashes: Mapping[str, str] | None = None

    @property
    def filetype(self) -> str:
        assert self.form is not None
        return self.form.filetype


Rule = Callable[[Upload], None]


def apply(rules: Iterable[Rule], upload: Upload) -> None:
    """Run ``rules`` in order; the first refusal is the answer, as in warehouse."""
    for rule in rules:
        rule(upload)
