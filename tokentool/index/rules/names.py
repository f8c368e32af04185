"""Project-name checks when an upload creates a project.

``warehouse/packaging/services.py``: ``ProjectService.check_project_name``
(called by ``create_project``) and the words ``create_project`` answers with.
They run before the token's scope is judged, so a name the site would never
register is refused even with a token that could not have uploaded to it.
"""

from __future__ import annotations

import itertools
import re

import stdlib_list
from packaging.utils import canonicalize_name

from tokentool.index.rules._base import Upload, UploadError
from tokentool.index.rules.form import PROJECT_NAME_RE


def _namespace_stdlib_list(modules: list[str]) -> list[str]:
    # warehouse.packaging.services._namespace_stdlib_list: every dotted prefix.
    parts = (m.split(".") for m in modules)
    return [".".join(p[: i + 1]) for p in parts for i in range(len(p))]


# warehouse.packaging.services.STDLIB_PROHIBITED: every stdlib module of every
# Python version stdlib-list knows, normalized.
STDLIB_PROHIBITED = frozenset(
    canonicalize_name(s.rstrip("-_.").lstrip("-_."))
    for s in itertools.chain.from_iterable(
        _namespace_stdlib_list(stdlib_list.stdlib_list(version))
        for version in stdlib_list.short_versions
    )
)

_ULTRA_SEPARATORS = re.compile(r"[._-]")


def ultranormalize(name: str) -> str:
    """The SQL function ``ultranormalize_name`` (migration d18d443f89f0).

    Separators removed, ``l``/``i`` read as ``1`` and ``o`` as ``0``, lower case:
    ``Foo.Bar`` and ``f00bar`` collide.
    """
    name = _ULTRA_SEPARATORS.sub("", name)
    name = re.sub("[lLiI]", "1", name)
    return re.sub("[oO]", "0", name).lower()


def valid_name(up: Upload) -> None:
    # ProjectNameUnavailableInvalidError
    if not PROJECT_NAME_RE.match(up.project_name):
        raise UploadError(400, f"The name {up.project_name!r} is invalid.")


def not_stdlib(up: Upload) -> None:
    # ProjectNameUnavailableStdlibError
    if canonicalize_name(up.project_name) in STDLIB_PROHIBITED:
        raise UploadError(
            400,
            f"The name {up.project_name!r} isn't allowed (conflict with Python Standard "
            f"Library module name). See {up.site.help('project-name')} for more information.",
        )


def not_existing(up: Upload) -> None:
    # ProjectNameUnavailableExistingError: only a concurrent upload can get here.
    if up.lookups.project_exists(canonicalize_name(up.project_name)):
        raise UploadError(
            409,
            f"The name {up.project_name!r} conflicts with an existing project. "
            f"See {up.site.help('project-name')} for more information.",
        )


#: ProhibitedProjectName rows every warehouse has: migration 1e2ccd34f539 inserts
#: them ("taken from existing legacy code"), and test_legacy's
#: test_fails_with_invalid_names relies on them without creating any.
DEFAULT_PROHIBITED = frozenset({"requirements.txt", "rrequirements.txt"})


def not_prohibited(up: Upload) -> None:
    # ProjectNameUnavailableProhibitedError (ProhibitedProjectName rows, kept
    # normalized by the ensure_normalized_blacklist trigger)
    prohibited = {canonicalize_name(n) for n in DEFAULT_PROHIBITED | up.site.prohibited_names}
    if canonicalize_name(up.project_name) in prohibited:
        raise UploadError(
            400,
            f"The name {up.project_name!r} isn't allowed. "
            f"See {up.site.help('project-name')} for more information.",
        )


def not_too_similar(up: Upload) -> None:
    # ProjectNameUnavailableSimilarError
    wanted = ultranormalize(up.project_name)
    if any(ultranormalize(name) == wanted for name in up.lookups.project_names()):
        raise UploadError(
            400,
            f"The name {up.project_name!r} is too similar to an existing project. "
            f"See {up.site.help('project-name')} for more information.",
        )
