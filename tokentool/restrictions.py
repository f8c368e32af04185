"""Caveats as Test PyPI reads and judges them.

pypitoken's own restriction classes cannot load caveats with trailing fields or
tag 4, and word their failures differently from the server. The toolkit needs
the *server's* verdict (the stand-in index answers with it, ``tokentool check``
predicts it), so caveats are parsed and judged here with warehouse's rules and
exact messages, while pypitoken is still what writes new caveats.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from packaging.utils import canonicalize_name

__all__ = [
    "Context",
    "Expiration",
    "OIDCPublisher",
    "ProjectIDs",
    "ProjectNames",
    "Restriction",
    "Unreadable",
    "UserID",
    "evaluate",
    "parse_caveat",
]


@dataclasses.dataclass(frozen=True)
class Context:
    """What an upload looks like to the caveats.

    ``project_name`` is the name as the uploader typed it (messages quote it that
    way); ``None`` means "no project". ``user_id=None`` means "the token's own
    user", which is all an offline check can assume.
    """

    project_name: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    now: int = 0


@dataclasses.dataclass(frozen=True)
class Restriction:
    """One caveat. ``legacy`` marks the old JSON-object form of the same rule."""

    legacy: bool = dataclasses.field(default=False, kw_only=True)
    kind: ClassVar[str] = ""

    def check(self, context: Context) -> str | None:
        """Return the server's failure reason, or ``None`` when the caveat passes."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def as_data(self) -> dict[str, Any]:
        fields = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "legacy"
        }
        data: dict[str, Any] = {"type": self.kind, **fields}
        data["legacy"] = self.legacy
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _project_failure(context: Context) -> str:
    if context.project_name is None:
        return "project-scoped token used outside of a project context"
    return f"project-scoped token is not valid for project: {context.project_name!r}"


def iso(ts: int) -> str:
    """UTC ISO 8601, second precision: what people read and what APIs parse."""
    return (
        datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
        .isoformat()
        .replace("+00:00", "Z")
    )


@dataclasses.dataclass(frozen=True)
class Expiration(Restriction):
    expires_at: int
    not_before: int
    kind: ClassVar[str] = "expiration"

    def check(self, context: Context) -> str | None:
        if context.now < self.not_before or context.now >= self.expires_at:
            return "token is expired"
        return None

    def describe(self) -> str:
        return f"valid from {iso(self.not_before)} until {iso(self.expires_at)} (exclusive)"

    def as_data(self) -> dict[str, Any]:
        data = super().as_data()
        data["not_before_iso"] = iso(self.not_before)
        data["expires_at_iso"] = iso(self.expires_at)
        return data


@dataclasses.dataclass(frozen=True)
class ProjectNames(Restriction):
    names: tuple[str, ...]
    kind: ClassVar[str] = "project_names"

    def check(self, context: Context) -> str | None:
        if context.project_name is None or canonicalize_name(context.project_name) not in set(
            self.names
        ):
            return _project_failure(context)
        return None

    def describe(self) -> str:
        return "only for project(s) named " + ", ".join(self.names)


@dataclasses.dataclass(frozen=True)
class ProjectIDs(Restriction):
    ids: tuple[str, ...]
    kind: ClassVar[str] = "project_ids"

    def check(self, context: Context) -> str | None:
        if context.project_name is None or context.project_id not in set(self.ids):
            return _project_failure(context)
        return None

    def describe(self) -> str:
        return "only for project(s) with ID " + ", ".join(self.ids)


@dataclasses.dataclass(frozen=True)
class UserID(Restriction):
    """Tag 3, or the legacy ``"permissions": "user"`` form (``user_id=None``)."""

    user_id: str | None
    kind: ClassVar[str] = "user"

    def check(self, context: Context) -> str | None:
        if self.user_id is None or context.user_id is None:
            return None
        if context.user_id != self.user_id:
            return "current user does not match user restriction in token"
        return None

    def describe(self) -> str:
        if self.user_id is None:
            return "only for the user who created it (legacy user-wide form)"
        return f"only for the user with ID {self.user_id}"


@dataclasses.dataclass(frozen=True)
class OIDCPublisher(Restriction):
    publisher_id: str
    kind: ClassVar[str] = "oidc_publisher"

    def check(self, context: Context) -> str | None:
        return "OIDC scoped token used outside of an OIDC identified request"

    def describe(self) -> str:
        return f"only for trusted publisher {self.publisher_id} (not usable as an API token)"


@dataclasses.dataclass(frozen=True)
class Unreadable(Restriction):
    """A caveat the server cannot read: it fails every request with ``reason``."""

    reason: str
    kind: ClassVar[str] = "unreadable"

    def check(self, context: Context) -> str | None:
        return self.reason

    def describe(self) -> str:
        return f"unreadable caveat ({self.reason})"


class _Bad(Exception):
    pass


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _Bad("invalid values for fields")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("invalid values for fields")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad("invalid values for fields")
    return tuple(_str(v) for v in value)


def _fields(values: Sequence[Any], count: int) -> Sequence[Any]:
    if len(values) < count:
        raise _Bad("Not enough values")
    return values


def _adapt_legacy(obj: Mapping[str, Any]) -> Restriction:
    if obj.get("version") == 1:
        permissions = obj.get("permissions")
        if permissions == "user":
            return UserID(None, legacy=True)
        if isinstance(permissions, Mapping) and "projects" in permissions:
            return ProjectNames(_str_list(permissions["projects"]), legacy=True)
        raise _Bad("caveat must be an array")
    if "exp" in obj and "nbf" in obj:
        return Expiration(_int(obj["exp"]), _int(obj["nbf"]), legacy=True)
    if "project_ids" in obj:
        return ProjectIDs(_str_list(obj["project_ids"]), legacy=True)
    raise _Bad("caveat must be an array")


def _parse(obj: Any) -> Restriction:
    if isinstance(obj, Mapping):
        return _adapt_legacy(obj)
    if not isinstance(obj, list):
        raise _Bad("caveat must be an array")
    if not obj:
        raise _Bad("caveat array cannot be empty")
    tag, *fields = obj
    # The server looks tags up in a dict, so 1.0 and true select tag 1 too.
    try:
        known = tag in (0, 1, 2, 3, 4)
    except TypeError:  # pragma: no cover - list/dict tags are unhashable but compare fine
        known = False
    if not known or isinstance(tag, (list, dict)):
        raise _Bad(f"caveat has unknown tag: {tag}")
    if tag == 0:
        expires_at, not_before = _fields(fields, 2)[:2]
        return Expiration(_int(expires_at), _int(not_before))
    if tag == 1:
        return ProjectNames(_str_list(_fields(fields, 1)[0]))
    if tag == 2:
        return ProjectIDs(_str_list(_fields(fields, 1)[0]))
    if tag == 3:
        return UserID(_str(_fields(fields, 1)[0]))
    return OIDCPublisher(_str(_fields(fields, 1)[0]))


def parse_caveat(raw: str | bytes) -> Restriction:
    """Read one caveat; what the server could not read becomes ``Unreadable``."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return Unreadable("caveat is not valid JSON")
    try:
        return _parse(obj)
    except _Bad as exc:
        return Unreadable(str(exc))


def evaluate(restrictions: Iterable[Restriction], context: Context) -> list[str]:
    """Every failing caveat's reason, in order: the server evaluates them all."""
    return [reason for r in restrictions if (reason := r.check(context)) is not None]
