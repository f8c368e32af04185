"""Load, explain, derive and judge PyPI tokens.

pypitoken does the macaroon work (decoding, appending caveats, dumping); this
module closes its traps (prefix, whitespace, names it cannot read back, ``0``
and float timestamps, bare ``ValueError``) and words every failure as one
sentence that never quotes the token.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pymacaroons
import pypitoken
from packaging.utils import InvalidName, canonicalize_name

from tokentool.exceptions import LoadError, RestrictionError
from tokentool.restrictions import (
    Context,
    Expiration,
    ProjectIDs,
    ProjectNames,
    Restriction,
    Unreadable,
    UserID,
    evaluate,
    iso,
    parse_caveat,
)

PREFIX = "pypi"
#: Macaroon locations of the two public sites, as issued by warehouse.
PUBLIC_DOMAINS = ("pypi.org", "test.pypi.org")

__all__ = [
    "PREFIX",
    "PUBLIC_DOMAINS",
    "Token",
    "Verdict",
    "derive",
    "load",
    "mint",
    "normalize_project",
    "parse_duration",
    "parse_time",
    "redact",
]


def redact(raw: str) -> str:
    """Enough of a token to tell tokens apart in a log, nothing that authenticates."""
    raw = raw.strip()
    return f"{raw[:9]}…(redacted)" if raw.startswith(f"{PREFIX}-") else "…(redacted)"


def normalize_project(name: str) -> str:
    """PEP 503 form, refusing what PyPI would refuse as a project name."""
    try:
        return canonicalize_name(name, validate=True)
    except (InvalidName, TypeError):
        raise RestrictionError(f"invalid project name: {name!r}") from None


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise RestrictionError(f"invalid {what}: {value!r} is not a UUID") from None


_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in ``90``, ``15m``, ``2h``, ``7d``, ``1w`` or ``1h30m``."""
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    elif text and _DURATION.sub("", text) == "":
        seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    else:
        raise RestrictionError(
            f"invalid duration: {text!r} (use a number of seconds or e.g. 15m, 2h, 7d)"
        )
    if seconds <= 0:
        raise RestrictionError(f"invalid duration: {text!r} must be longer than zero")
    return seconds


def parse_time(text: str | int | float | datetime.datetime) -> int:
    """A Unix timestamp from an int/float, ``@1700000000`` or ISO 8601 (UTC if naive).

    Floats round up: with integer clocks ``now >= 5.5`` and ``now >= 6`` agree,
    as do ``now < 10.5`` and ``now < 11``.
    """
    if isinstance(text, datetime.datetime):
        if text.tzinfo is None:
            text = text.replace(tzinfo=datetime.timezone.utc)
        return math.ceil(text.timestamp())
    if isinstance(text, bool):
        raise RestrictionError(f"invalid time: {text!r}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text < 0:
            raise RestrictionError(f"invalid time: {text!r}")
        return math.ceil(text)
    raw = text.strip()
    try:
        number = float(raw.removeprefix("@"))
    except ValueError:
        number = None
    if number is not None:
        return parse_time(number)
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RestrictionError(
            f"invalid time: {raw!r} (use ISO 8601 such as 2026-01-31T12:00:00Z, "
            "or a Unix timestamp)"
        ) from None
    return parse_time(parsed)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether the server would let a token through, and its reasons if not."""

    allowed: bool
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        """The reason phrase Test PyPI would answer with."""
        return "Invalid API Token: " + ", ".join(self.reasons) if self.reasons else "allowed"


@dataclasses.dataclass(frozen=True)
class Token:
    """A loaded token. Its ``repr`` never shows the macaroon or signature."""

    prefix: str
    domain: str
    identifier: str
    restrictions: tuple[Restriction, ...]
    _macaroon: pymacaroons.Macaroon = dataclasses.field(repr=False, compare=False)

    @property
    def issuer(self) -> str:
        """``pypi.org``, ``test.pypi.org`` or ``other`` (a private index, the stand-in)."""
        return self.domain if self.domain in PUBLIC_DOMAINS else "other"

    def dump(self) -> str:
        return f"{self.prefix}-{self._macaroon.serialize()}"

    def redacted(self) -> str:
        return redact(self.dump())

    def verify_signature(self, key: bytes) -> bool:
        """Whether ``key`` signed this chain; the caveats themselves are judged by ``evaluate``."""
        verifier = pymacaroons.Verifier()
        verifier.satisfy_general(lambda _caveat: True)
        try:
            return bool(verifier.verify(self._macaroon, key))
        except Exception:  # pymacaroons raises assorted types for a bad chain
            return False

    def evaluate(
        self,
        project: str | None,
        *,
        project_id: str | None = None,
        user_id: str | None = None,
        at: int | float | datetime.datetime | str | None = None,
    ) -> Verdict:
        """Judge the caveats as Test PyPI would, without the key.

        An unknown ``user_id`` is taken to be the token's owner: offline, that is
        the only user it can be meant for.
        """
        now = int(time.time()) if at is None else parse_time(at)
        if project is not None:
            normalize_project(project)
        context = Context(project_name=project, project_id=project_id, user_id=user_id, now=now)
        reasons = evaluate(self.restrictions, context)
        return Verdict(not reasons, tuple(reasons))

    def window(self) -> tuple[int, int] | None:
        """The intersection of every validity window, or ``None`` if unbounded."""
        windows = [
            (r.not_before, r.expires_at) for r in self.restrictions if isinstance(r, Expiration)
        ]
        if not windows:
            return None
        return max(w[0] for w in windows), min(w[1] for w in windows)

    def project_names(self) -> frozenset[str] | None:
        """Names every name caveat admits together, or ``None`` if unrestricted."""
        return _intersect(r.names for r in self.restrictions if isinstance(r, ProjectNames))

    def project_ids(self) -> frozenset[str] | None:
        return _intersect(r.ids for r in self.restrictions if isinstance(r, ProjectIDs))

    def explain(self) -> dict[str, Any]:
        """Everything a reader may see about the token, as JSON-ready data."""
        return {
            "prefix": self.prefix,
            "domain": self.domain,
            "issuer": self.issuer,
            "identifier": self.identifier,
            "restrictions": [r.as_data() for r in self.restrictions],
            "summary": [_describe(r) for r in self.restrictions],
        }


def _describe(r: Restriction) -> str:
    return ("legacy: " if r.legacy else "") + r.describe()


def _intersect(sets: Iterable[Iterable[str]]) -> frozenset[str] | None:
    result: frozenset[str] | None = None
    for names in sets:
        result = frozenset(names) if result is None else result & frozenset(names)
    return result


def load(raw: Any, *, strict: bool = True) -> Token:
    """Read a token; ``strict=False`` keeps unreadable caveats (the server judges them)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            raise LoadError("the token is not text: it contains non-ASCII bytes") from None
    if not isinstance(raw, str):
        raise LoadError("no token given")
    raw = raw.strip()
    if not raw:
        raise LoadError("no token given: the input is empty")
    prefix, sep, body = raw.partition("-")
    if not sep or prefix != PREFIX:
        raise LoadError("this is not a PyPI token: it does not start with 'pypi-'")
    if not body or not raw.isascii() or any(c.isspace() for c in raw):
        raise LoadError("the token could not be decoded: it is truncated or corrupted")
    try:
        macaroon = pypitoken.Token.load(raw)._macaroon
        identifier = (macaroon.identifier_bytes or b"").decode("utf-8")
        domain = macaroon.location or ""
        caveats = list(macaroon.caveats)
    except Exception:  # pymacaroons raises assorted types on bad input
        raise LoadError("the token could not be decoded: it is truncated or corrupted") from None
    restrictions: list[Restriction] = []
    for number, caveat in enumerate(caveats, start=1):
        if caveat.first_party():
            restriction = parse_caveat(caveat.caveat_id_bytes)
        else:
            restriction = Unreadable("third-party caveats are not supported")
        if strict and isinstance(restriction, Unreadable):
            raise LoadError(
                f"restriction {number} of the token cannot be read: {restriction.reason}"
            )
        restrictions.append(restriction)
    return Token(PREFIX, domain, identifier, tuple(restrictions), macaroon)


def derive(
    token: Token,
    *,
    project_names: Sequence[str] = (),
    project_ids: Sequence[str] = (),
    not_before: int | float | datetime.datetime | str | None = None,
    not_after: int | float | datetime.datetime | str | None = None,
    ttl: str | int | None = None,
    user_id: str | None = None,
    now: int | None = None,
    allow_unusable: bool = False,
) -> Token:
    """A narrower copy of ``token``; the original is untouched.

    Refuses, before writing anything, a request that would yield a token no
    upload can ever pass (disjoint projects, an empty or past window), since
    such a token only fails later with a less helpful message. ``allow_unusable``
    is for negative tests that want exactly that.
    """
    names = sorted({normalize_project(n) for n in project_names})
    ids = sorted({_uuid(i, "project ID") for i in project_ids})
    user = _uuid(user_id, "user ID") if user_id is not None else None
    current = int(time.time()) if now is None else now
    window: tuple[int, int] | None = None
    if ttl is not None:
        if not_before is not None or not_after is not None:
            raise RestrictionError("use either a TTL or --not-before/--not-after, not both")
        seconds = ttl if isinstance(ttl, int) else parse_duration(ttl)
        if seconds <= 0:
            raise RestrictionError("invalid duration: it must be longer than zero")
        window = (current, current + seconds)
    elif not_before is not None or not_after is not None:
        start = current if not_before is None else parse_time(not_before)
        if not_after is None:
            raise RestrictionError("a validity window needs an end (--not-after or --ttl)")
        window = (start, parse_time(not_after))
        if window[0] >= window[1]:
            raise RestrictionError(
                f"not_before ({iso(window[0])}) must be earlier than not_after ({iso(window[1])})"
            )
    if not (names or ids or window or user):
        raise RestrictionError("no restriction given: the derived token would be identical")

    if not allow_unusable:
        _refuse_unusable(token, names, ids, window, user, current)

    macaroon = token._macaroon
    # A fresh macaroon sharing the (immutable) caveats: pypitoken appends to the
    # list and re-signs, and the parent must stay untouched. Cheaper than a
    # deepcopy or a dump/load round trip, which matters for `--each`.
    copy = pymacaroons.Macaroon(
        location=macaroon.location,
        identifier=macaroon.identifier,
        caveats=list(macaroon.caveats),
        signature=macaroon.signature,
        version=macaroon.version,
    )
    try:
        pypitoken.Token(prefix=token.prefix, macaroon=copy).restrict(
            project_names=names or None,
            project_ids=ids or None,
            user_id=user,
            not_before=_utc(window[0]) if window else None,
            not_after=_utc(window[1]) if window else None,
        )
    except Exception as exc:  # pypitoken raises InvalidRestriction, ValueError, AttributeError
        raise RestrictionError(f"pypitoken refused the restriction: {type(exc).__name__}") from None
    added = tuple(parse_caveat(c.caveat_id_bytes) for c in copy.caveats[len(macaroon.caveats) :])
    return dataclasses.replace(token, restrictions=token.restrictions + added, _macaroon=copy)


def _utc(ts: int) -> datetime.datetime:
    # pypitoken treats a timestamp of 0 as "not set"; an aware datetime never is falsy.
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)


def _refuse_unusable(
    token: Token,
    names: list[str],
    ids: list[str],
    window: tuple[int, int] | None,
    user: str | None,
    now: int,
) -> None:
    existing = token.project_names()
    if names and existing is not None and not existing & set(names):
        raise RestrictionError(
            f"the token is already limited to project(s) {', '.join(sorted(existing))}; "
            f"adding {', '.join(names)} would leave a token no upload can use"
        )
    existing_ids = token.project_ids()
    if ids and existing_ids is not None and not existing_ids & set(ids):
        raise RestrictionError(
            "the token is already limited to other project IDs; "
            "the derived token could never be used"
        )
    if window:
        current = token.window()
        start, end = window
        if current:
            start, end = max(start, current[0]), min(end, current[1])
            if start >= end:
                raise RestrictionError(
                    f"the token is only valid from {iso(current[0])} to {iso(current[1])}; "
                    "the requested window does not overlap it"
                )
        if end <= now:
            raise RestrictionError(
                f"the validity window ends at {iso(end)}, in the past: "
                "the derived token could never be used"
            )
    if user:
        users = {r.user_id for r in token.restrictions if isinstance(r, UserID) and r.user_id}
        if users and user not in users:
            raise RestrictionError(
                "the token is already limited to another user; "
                "the derived token could never be used"
            )


def mint(
    *,
    domain: str,
    identifier: str,
    key: bytes,
    user_id: str | None = None,
    project_name: str | None = None,
    project_id: str | None = None,
) -> str:
    """A token as warehouse's account page issues it (for the stand-in index and tests).

    User-wide tokens carry ``[3, user]``; project tokens ``[1, [name]]`` and
    ``[2, [id]]``. Nothing else: the site never adds an expiry.
    """
    token = pypitoken.Token.create(domain=domain, identifier=identifier, key=key)
    if project_name is not None:
        token.restrict(
            project_names=[normalize_project(project_name)],
            project_ids=[_uuid(project_id or "", "project ID")],
        )
    elif user_id is not None:
        token.restrict(user_id=_uuid(user_id, "user ID"))
    return token.dump()
