"""Caveats as warehouse reads and judges them: one class per tag, one registry, one judge.

The toolkit needs the *server's* verdict (the stand-in index answers with it,
``tokentool check`` predicts it), so caveats are decoded and judged here with
warehouse's rules and exact words (``warehouse/macaroons/caveats/``), while
pypitoken is still what writes new caveats.

Warehouse's verification catches only its own caveat errors
(``CaveatError``): a caveat that is not UTF-8, not JSON, has an unhashable
tag, is a third-party caveat or nests too deep raises something else inside
pymacaroons' verifier, which *ends* verification with the reasons gathered so
far, or ``unknown error`` (``warehouse.macaroons.caveats.verify``). Such a
caveat decodes here to ``Broken``; ``judge`` stops there the same way.

A new caveat is one class: subclass ``Caveat`` with ``tag=N``, declare its
fields as dataclass fields, and give it ``from_fields``, ``check`` and
``describe``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import json.decoder
import json.scanner
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from packaging.utils import canonicalize_name

from tokentool.exceptions import RestrictionError

__all__ = [
    "MAX_DEPTH",
    "Broken",
    "Caveat",
    "CaveatError",
    "Context",
    "Expiration",
    "Judgement",
    "OIDCPublisher",
    "ProjectIDs",
    "ProjectNames",
    "Restriction",
    "Unreadable",
    "UserID",
    "decode_caveat",
    "decode_stored",
    "evaluate",
    "judge",
    "parse_caveat",
    "registry",
]

#: Deeper JSON nesting than this ends verification ("nests too deep"). Warehouse
#: runs on Python 3.14, whose JSON decoder nests until the C stack guard trips:
#: far deeper than any caveat a header of a few KiB can carry, so the cut sits
#: where warehouse's own interpreter would give up too, and decoding here never
#: recurses whatever the depth.
MAX_DEPTH = 10_000


@dataclasses.dataclass(frozen=True)
class Context:
    """What an upload looks like to the caveats; every field concrete.

    ``project_name`` is the name as typed (``None``: no project context);
    ``display_name`` the project's stored name, which warehouse quotes
    (``context.name``), defaulting to the typed one (a new project is created
    under the typed name).
    """

    project_name: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    now: int = 0
    display_name: str | None = None

    @property
    def name(self) -> str | None:
        return self.display_name if self.display_name is not None else self.project_name


def iso(ts: int) -> str:
    """UTC ISO 8601, second precision: what people read and what APIs parse."""
    try:
        return (
            datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
            .isoformat()
            .replace("+00:00", "Z")
        )
    except (OverflowError, OSError, ValueError):
        return f"@{ts}"


class CaveatError(Exception):
    """Warehouse's ``CaveatDeserializationError``: the reason joins the others."""


registry: dict[int, type[Caveat]] = {}


@dataclasses.dataclass(frozen=True)
class Caveat:
    """One caveat. ``legacy`` marks the old JSON-object form of the same rule."""

    legacy: bool = dataclasses.field(default=False, kw_only=True)
    tag: ClassVar[int | None] = None
    kind: ClassVar[str] = ""
    #: The ``tokentool restrict`` option that writes this caveat (None: never written).
    option: ClassVar[str | None] = None

    def __init_subclass__(cls, tag: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if tag is not None:
            if tag in registry:
                raise TypeError(f"caveat tag {tag} is already used by {registry[tag].__name__}")
            registry[tag] = cls
            cls.tag = tag

    @classmethod
    def from_fields(cls, fields: Sequence[Any]) -> Caveat:
        """Build from the array after the tag (``Caveat.__deserialize__``)."""
        raise NotImplementedError

    def check(self, context: Context) -> str | None:
        """The server's failure reason, or ``None`` when the caveat passes."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def ends_verification(self) -> bool:
        return False

    def as_data(self) -> dict[str, Any]:
        fields = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "legacy"
        }
        data: dict[str, Any] = {"type": self.kind, **fields}
        data["legacy"] = self.legacy
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


#: The name older code and callers use.
Restriction = Caveat


def _take(fields: Sequence[Any], count: int, defaults: Sequence[Any] = ()) -> list[Any]:
    # Caveat.__deserialize__: missing values take a field's default, else fail;
    # values beyond the declared fields are ignored.
    values = list(fields[:count])
    missing = count - len(values)
    if missing > len(defaults):
        raise CaveatError("Not enough values")
    if missing:
        values += list(defaults[len(defaults) - missing :])
    return values


def _strict_int(value: Any) -> int:
    # pydantic's StrictInt: an int, not a bool, not a float.
    if type(value) is not int:
        raise CaveatError("invalid values for fields")
    return value


def _strict_str(value: Any) -> str:
    if not isinstance(value, str):
        raise CaveatError("invalid values for fields")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    # list[StrictStr]: JSON yields only list or dict; a dict is no list.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaveatError("invalid values for fields")
    return tuple(value)


def _outside_project(context: Context) -> str | None:
    if context.project_name is None:
        return "project-scoped token used outside of a project context"
    return None


def _not_for(context: Context) -> str:
    return f"project-scoped token is not valid for project: {context.name!r}"


@dataclasses.dataclass(frozen=True)
class Expiration(Caveat, tag=0):
    expires_at: int
    not_before: int
    kind: ClassVar[str] = "expiration"
    option: ClassVar[str | None] = "--ttl / --not-before / --not-after"

    @classmethod
    def from_fields(cls, fields: Sequence[Any]) -> Expiration:
        expires_at, not_before = _take(fields, 2)
        return cls(_strict_int(expires_at), _strict_int(not_before))

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
class ProjectNames(Caveat, tag=1):
    names: tuple[str, ...]
    kind: ClassVar[str] = "project_names"
    option: ClassVar[str | None] = "PROJECT"

    @classmethod
    def from_fields(cls, fields: Sequence[Any]) -> ProjectNames:
        (names,) = _take(fields, 1)
        return cls(_str_list(names))

    def check(self, context: Context) -> str | None:
        outside = _outside_project(context)
        if outside:
            return outside
        # Exact membership of the normalized name: an unnormalized entry never matches.
        assert context.project_name is not None
        if canonicalize_name(context.project_name) not in self.names:
            return _not_for(context)
        return None

    def describe(self) -> str:
        return "only for project(s) named " + ", ".join(self.names)


@dataclasses.dataclass(frozen=True)
class ProjectIDs(Caveat, tag=2):
    ids: tuple[str, ...]
    kind: ClassVar[str] = "project_ids"
    option: ClassVar[str | None] = "--project-id"

    @classmethod
    def from_fields(cls, fields: Sequence[Any]) -> ProjectIDs:
        (ids,) = _take(fields, 1)
        return cls(_str_list(ids))

    def check(self, context: Context) -> str | None:
        outside = _outside_project(context)
        if outside:
            return outside
        if context.project_id not in self.ids:
            return _not_for(context)
        return None

    def describe(self) -> str:
        return "only for project(s) with ID " + ", ".join(self.ids)


@dataclasses.dataclass(frozen=True)
class UserID(Caveat, tag=3):
    """Tag 3, or the legacy ``"permissions": "user"`` form (``user_id=None``).

    The legacy form adapts to ``[3, <the request's user>]``: it always passes
    for a token's own upload.
    """

    user_id: str | None
    kind: ClassVar[str] = "user"
    option: ClassVar[str | None] = "--user-id"

    @classmethod
    def from_fields(cls, fields: Sequence[Any]) -> UserID:
        (user_id,) = _take(fields, 1)
        return cls(_strict_str(user_id))

    def check(self, context: Context) -> str | None:
        if self.user_id is None:
            return None
        if context.user_id != self.user_id:
            return "current user does not match user restriction in token"
        return None

    def describe(self) -> str:
        if self.user_id is None:
            return "only for the user who created it (legacy user-wide form)"
        return f"only for the user with ID {self.user_id}"


@dataclasses.dataclass(frozen=True)
class OIDCPublisher(Caveat, tag=4):
    publisher_id: str
    #: Deprecated trailing field: ``SignedClaims | None``, i.e. a JSON object or null.
    claims: Mapping[str, Any] | None = dataclasses.field(default=None, repr=False)
    kind: ClassVar[str] = "oidc_publisher"

    @classmethod
    def from_fields(cls, fields: Sequence[Any]) -> OIDCPublisher:
        publisher_id, claims = _take(fields, 2, defaults=(None,))
        if claims is not None and not isinstance(claims, dict):
            raise CaveatError("invalid values for fields")
        return cls(_strict_str(publisher_id), claims)

    def check(self, context: Context) -> str | None:
        # An API token is never an OIDC-identified request.
        return "OIDC scoped token used outside of an OIDC identified request"

    def describe(self) -> str:
        return f"only for trusted publisher {self.publisher_id} (not usable as an API token)"

    def as_data(self) -> dict[str, Any]:
        data = super().as_data()
        data["claims"] = self.claims is not None
        return data


@dataclasses.dataclass(frozen=True)
class Unreadable(Caveat):
    """A caveat warehouse rejects with a ``CaveatError``: fails with ``reason``, judging goes on."""

    reason: str
    kind: ClassVar[str] = "unreadable"

    def check(self, context: Context) -> str | None:
        return self.reason

    def describe(self) -> str:
        return f"unreadable caveat ({self.reason})"


@dataclasses.dataclass(frozen=True)
class Broken(Caveat):
    """A caveat that makes warehouse's verifier raise: judging ends here.

    ``why`` is for people (``inspect``); the server's answer is the reasons
    gathered before it, or ``unknown error``.
    """

    why: str
    kind: ClassVar[str] = "broken"

    def check(self, context: Context) -> str | None:
        return None

    def ends_verification(self) -> bool:
        return True

    def describe(self) -> str:
        return f"unreadable caveat ({self.why}); Test PyPI stops judging the token here"


# -- decoding ---------------------------------------------------------------------


class _Break(Exception):
    pass


_WHITESPACE = " \t\n\r"
_LITERALS = (("null", None), ("true", True), ("false", False))
_CONSTANTS = (("NaN", math.nan), ("Infinity", math.inf), ("-Infinity", -math.inf))


def _loads(text: str) -> Any:
    """``json.loads(text)`` with an explicit stack instead of recursion.

    Accepts exactly what ``json.loads`` accepts (NaN and Infinity, last
    duplicate key wins, strict strings, the int-digits limit); fails with
    ``_Break`` where it raises, and past ``MAX_DEPTH``.
    """
    if text.startswith("\ufeff"):
        raise _Break("it starts with a byte order mark")
    n = len(text)
    i = 0

    def skip(pos: int) -> int:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def scalar(pos: int) -> tuple[Any, int]:
        ch = text[pos] if pos < n else ""
        if ch == '"':
            try:
                return json.decoder.scanstring(text, pos + 1, True)
            except ValueError:
                raise _Break("it is not JSON") from None
        for word, value in _LITERALS + _CONSTANTS:
            if text.startswith(word, pos):
                return value, pos + len(word)
        match = json.scanner.NUMBER_RE.match(text, pos)
        if match is None:
            raise _Break("it is not JSON")
        integer, frac, exp = match.groups()
        try:
            value = float(integer + (frac or "") + (exp or "")) if frac or exp else int(integer)
        except ValueError:  # more digits than int() converts
            raise _Break("it is not JSON") from None
        return value, match.end()

    # Each frame: [container, pending key (dicts)].
    stack: list[list[Any]] = []
    result: Any = None
    i = skip(i)
    while True:
        if i >= n:
            raise _Break("it is not JSON")
        ch = text[i]
        if ch in "[{":
            if len(stack) >= MAX_DEPTH:
                raise _Break("it nests too deep")
            container: Any = [] if ch == "[" else {}
            stack.append([container, None])
            i = skip(i + 1)
            closer = "]" if ch == "[" else "}"
            if i < n and text[i] == closer:
                stack.pop()
                value, i = container, i + 1
            elif isinstance(container, dict):
                value = None
                i = _key(text, i, stack[-1])
                continue
            else:
                continue
        else:
            value, i = scalar(i)
        # Attach the finished value; close every container it completes.
        while True:
            if not stack:
                result = value
                i = skip(i)
                if i != n:
                    raise _Break("it is not JSON")
                return result
            frame = stack[-1]
            if isinstance(frame[0], list):
                frame[0].append(value)
            else:
                frame[0][frame[1]] = value
            i = skip(i)
            sep = text[i] if i < n else ""
            if sep == ",":
                i = skip(i + 1)
                if isinstance(frame[0], dict):
                    i = _key(text, i, frame)
                break
            if sep == ("]" if isinstance(frame[0], list) else "}"):
                stack.pop()
                value, i = frame[0], i + 1
                continue
            raise _Break("it is not JSON")


def _key(text: str, i: int, frame: list[Any]) -> int:
    if i >= len(text) or text[i] != '"':
        raise _Break("it is not JSON")
    try:
        key, i = json.decoder.scanstring(text, i + 1, True)
    except ValueError:
        raise _Break("it is not JSON") from None
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    if i >= len(text) or text[i] != ":":
        raise _Break("it is not JSON")
    i += 1
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    frame[1] = key
    return i


def _adapt_legacy(obj: Mapping[str, Any]) -> Caveat:
    # warehouse.macaroons.caveats._legacy.adapt, then the adapted array's class.
    if obj.get("version") == 1:
        permissions = obj.get("permissions")
        if permissions == "user":
            return UserID(None, legacy=True)
        if isinstance(permissions, Mapping) and "projects" in permissions:
            return dataclasses.replace(
                ProjectNames.from_fields([permissions["projects"]]), legacy=True
            )
        raise CaveatError("caveat must be an array")
    if "exp" in obj and "nbf" in obj:
        return dataclasses.replace(Expiration.from_fields([obj["exp"], obj["nbf"]]), legacy=True)
    if "project_ids" in obj:
        return dataclasses.replace(ProjectIDs.from_fields([obj["project_ids"]]), legacy=True)
    raise CaveatError("caveat must be an array")


def _deserialize(obj: Any) -> Caveat:
    # warehouse.macaroons.caveats._core.deserialize_obj
    if isinstance(obj, Mapping):
        return _adapt_legacy(obj)
    if not isinstance(obj, list):
        raise CaveatError("caveat must be an array")
    if not obj:
        raise CaveatError("caveat array cannot be empty")
    tag, *fields = obj
    if isinstance(tag, (list, dict)):
        raise _Break("its tag is an array or object")  # the registry's dict.get raises
    cls = registry.get(tag)  # 1.0 and true select tag 1, false tag 0, as in a dict
    if cls is None:
        raise CaveatError(f"caveat has unknown tag: {tag}")
    return cls.from_fields(fields)


def decode_caveat(raw: str | bytes, *, first_party: bool = True) -> Caveat:
    """One caveat as warehouse sees it; never raises, bounded work for any input."""
    if not first_party:
        return Broken("it is a third-party caveat")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Broken("it is not UTF-8 text")
    else:
        text = raw
    try:
        return _deserialize(_loads(text))
    except CaveatError as exc:
        return Unreadable(str(exc))
    except _Break as exc:
        return Broken(str(exc))


def decode_stored(text: str) -> tuple[Caveat, ...]:
    """A JSON array of caveats, as a token's row stores them, each read as ``decode_caveat`` does.

    For ``check --stored``: the one input that makes a verdict's words exact
    when the site keeps caveats with the token. Bounded like ``decode_caveat``.
    """
    try:
        value = _loads(text)
    except _Break:
        value = None
    if not isinstance(value, list):
        raise RestrictionError(
            f"not a JSON array of caveats: {text[:80]!r} (e.g. '[[3, \"USER-ID\"]]', '[]' for none)"
        )
    caveats: list[Caveat] = []
    for item in value:
        try:
            caveats.append(_deserialize(item))
        except CaveatError as exc:
            caveats.append(Unreadable(str(exc)))
        except _Break as exc:
            caveats.append(Broken(str(exc)))
    return tuple(caveats)


def parse_caveat(raw: str | bytes) -> Caveat:
    """Older name of ``decode_caveat``."""
    return decode_caveat(raw)


# -- judging ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The caveats' failures in order; ``ended``: a caveat stopped verification."""

    reasons: tuple[str, ...]
    ended: bool


def judge(caveats: Iterable[Caveat], context: Context) -> Judgement:
    """Every failing caveat's reason, in order, up to the first ``Broken`` one."""
    reasons: list[str] = []
    for caveat in caveats:
        if caveat.ends_verification():
            return Judgement(tuple(reasons), True)
        reason = caveat.check(context)
        if reason is not None:
            reasons.append(reason)
    return Judgement(tuple(reasons), False)


def evaluate(caveats: Iterable[Caveat], context: Context) -> list[str]:
    """The reasons ``judge`` gathers (without saying whether judging ended)."""
    return list(judge(caveats, context).reasons)
