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
from tokentool.sites import PUBLIC_DOMAINS, issuer_of
from tokentool.token.caveats import (
    Broken,
    Context,
    Expiration,
    ProjectIDs,
    ProjectNames,
    Restriction,
    Unreadable,
    UserID,
    decode_caveat,
    iso,
    judge,
)

PREFIX = "pypi"
#: Macaroon locations of the two public sites, as issued by warehouse.

__all__ = [
    "PREFIX",
    "PUBLIC_DOMAINS",
    "Token",
    "Verdict",
    "denial",
    "derive",
    "load",
    "mint",
    "normalize_project",
    "parse_duration",
    "parse_moment",
    "parse_time",
    "redact",
]


def redact(raw: str) -> str:
    """Enough of a token to tell tokens apart in a log, nothing that authenticates."""
    raw = raw.strip()
    return f"{raw[:9]}…(redacted)" if raw.startswith(f"{PREFIX}-") else "…(redacted)"


#: What a project name may be (PEP 508, as packaging validates it), said once for every face.
PROJECT_NAME_RULE = (
    "a project name is ASCII letters, digits, '.', '_' and '-', "
    "starting and ending with a letter or digit"
)


def invalid_project_name(name: object) -> str:
    """The one-line refusal of a name ``normalize_project`` refuses, saying what is allowed."""
    return f"invalid project name: {name!r} ({PROJECT_NAME_RULE})"


def normalize_project(name: str) -> str:
    """PEP 503 form, refusing what PyPI would refuse as a project name."""
    try:
        return canonicalize_name(name, validate=True)
    except (InvalidName, TypeError):
        raise RestrictionError(invalid_project_name(name)) from None


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


def parse_moment(text: str | int | float | datetime.datetime) -> int:
    """The moment of an upload as warehouse's clock reads it: ``int(time.time())``, floored."""
    if isinstance(text, datetime.datetime):
        if text.tzinfo is None:
            text = text.replace(tzinfo=datetime.timezone.utc)
        return math.floor(text.timestamp())
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or text < 0:
            raise RestrictionError(f"invalid time: {text!r}")
        return math.floor(text)
    if isinstance(text, str):
        try:
            return parse_moment(float(text.strip().removeprefix("@")))
        except ValueError:
            pass
        return parse_moment(_iso_datetime(text.strip()))
    raise RestrictionError(f"invalid time: {text!r}")


def _iso_datetime(raw: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RestrictionError(
            f"invalid time: {raw!r} (use ISO 8601 such as 2026-01-31T12:00:00Z, "
            "or a Unix timestamp)"
        ) from None


#: The three offline outcomes.
ALLOWED, REFUSED, UNDECIDED = "allowed", "refused", "undecided"
#: What only the index knows, as ``Verdict.needs`` names it.
NEEDS_PROJECT_ID, NEEDS_USER_ID = "project_id", "user_id"
#: What only the index knows that changes the words but never the outcome, as
#: ``Verdict.guessed`` names it: the project's stored name, the token row's caveats.
GUESSED_DISPLAY_NAME, GUESSED_STORED = "display_name", "stored"
#: A token with no embedded caveat: the site may keep restrictions for it in
#: its database and judge them on upload (pypi/warehouse#20371 mints project
#: tokens that way); only the index can say which.
NEEDS_STORED = "stored_caveats"
INTERNAL_ERROR = "Internal Server Error"


def denial(reasons: Sequence[str]) -> tuple[int, str]:
    """Status and reason phrase for a refused token, as warehouse words it.

    The joined reasons become a pyramid ``Denied`` twice: once in
    ``caveats.verify`` (whose ``msg`` is raised as ``InvalidMacaroonError``),
    once as ``Invalid API Token: ...`` in the security policy; each ``msg`` is
    ``s % ()``. So ``%%`` shrinks twice, and any other ``%`` makes the
    formatting raise, which warehouse answers with a bare 500. Odd, and
    reproduced on purpose.
    """
    try:
        inner = ", ".join(reasons) % ()
        return 403, f"Invalid API Token: {inner}" % ()
    except (TypeError, ValueError):
        return 500, INTERNAL_ERROR


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether the index would let a token through: allowed, refused or undecided.

    ``reasons`` are warehouse's, in its order. ``needs`` names what only the
    index knows and what would change the answer or its wording
    (``project_id``, ``user_id``); when it is not empty, ``reasons`` are the
    ones for the likeliest case (the token's owner uploading; a project the
    token names carrying the ID the token names). ``outcome`` is ``undecided``
    only when the unknowns decide between allowed and refused.

    ``guessed`` names what the words were guessed from although only the index
    knows it (``display_name``: the stored name warehouse quotes; ``stored``:
    the caveats kept with the token's row, judged again): the outcome holds
    whatever they are, the wording may not, so the verdict is not ``exact``.
    """

    outcome: str
    reasons: tuple[str, ...]
    needs: tuple[str, ...] = ()
    status: int = 403
    phrase: str = ""
    guessed: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED

    @property
    def refused(self) -> bool:
        return self.outcome == REFUSED

    @property
    def undecided(self) -> bool:
        return self.outcome == UNDECIDED

    @property
    def exact(self) -> bool:
        """Whether ``message`` is word for word what the index would answer.

        Only when nothing it depends on was guessed: an unknown ID (``needs``)
        or the index's stored name or stored caveats (``guessed``).
        """
        return not (self.needs or self.guessed)

    @property
    def message(self) -> str:
        """The reason phrase the index would answer with (``allowed`` if it would not refuse)."""
        if self.outcome == ALLOWED or not (self.phrase or self.reasons):
            # Undecided, and the likeliest case passes: no refusal to quote.
            return "allowed"
        return self.phrase or "Invalid API Token: " + ", ".join(self.reasons)

    def as_data(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "status": self.status if self.outcome != ALLOWED else None,
            "message": self.message,
            "reasons": list(self.reasons),
            "needs": list(self.needs),
            "guessed": list(self.guessed),
            "exact": self.exact,
        }


class _Fresh:
    """An ID no caveat names: a new project's, or another user's."""

    def __repr__(self) -> str:
        return "<fresh>"


_FRESH_PROJECT: Any = _Fresh()
_FRESH_USER: Any = _Fresh()
#: Bound on the IDs tried per unknown (a token naming more is judged undecided).
_MAX_CANDIDATES = 8


def _result(caveats: Sequence[Restriction], context: Context) -> tuple[int, str, tuple[str, ...]]:
    """(status, phrase, reasons) for one concrete context; status 200 passes the caveats."""
    judgement = judge(caveats, context)
    if judgement.ended:
        reasons = judgement.reasons or ("unknown error",)
    elif judgement.reasons:
        reasons = judgement.reasons
    else:
        return 200, "", ()
    status, phrase = denial(reasons)
    return status, phrase, reasons


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _could_be_an_id(value: str) -> bool:
    """Whether a project or user could carry ``value`` as its ID.

    Warehouse compares ``str(context.id)`` and ``str(request.identity.user.id)``
    (``ProjectID.verify``, ``RequestUser.verify``): a UUID column's ``str``, so
    only the canonical lowercase hyphenated form can ever match; an ID written
    any other way fails for every project and user.
    """
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def presumed_stored(restrictions: Sequence[Restriction]) -> tuple[Restriction, ...]:
    """The caveats the site stored for a token, guessed from its first caveats.

    The site stores the caveats it minted and since 2026-08 judges them again
    after the token's own: ``[3, user]`` for a user-wide token, ``[1, [name]]``
    and ``[2, [id]]`` for a project token. Only the index knows for sure (older
    tokens have none stored); the guess changes how often a reason repeats,
    never the outcome.
    """
    first = restrictions[:2]
    if first and isinstance(first[0], UserID) and first[0].user_id and not first[0].legacy:
        return (first[0],)
    if (
        len(first) == 2
        and isinstance(first[0], ProjectNames)
        and isinstance(first[1], ProjectIDs)
        and not (first[0].legacy or first[1].legacy)
        and len(first[0].names) == len(first[1].ids) == 1
    ):
        return tuple(first)
    return ()


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
        return issuer_of(self.domain)

    @property
    def version(self) -> int:
        """The macaroon format: 2 as the site issues; 1 makes warehouse fail with a 500."""
        return 1 if self._macaroon.version == pymacaroons.MACAROON_V1 else 2

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
        display_name: str | None = None,
        stored: Sequence[Restriction] | None = None,
    ) -> Verdict:
        """Judge the caveats as the index would, without the key (signature unchecked).

        ``project_id`` and ``user_id`` are what only the index knows; left out,
        every value that matters is tried, and the verdict says whether they
        change the answer (``needs``). ``display_name`` is the project's stored
        name, which warehouse quotes (default: ``project`` as typed).
        ``stored`` are the caveats the index keeps with the token's row (default:
        guessed with ``presumed_stored``). Either left out and able to change
        the words (never the outcome) is named in ``guessed``.
        """
        now = int(time.time()) if at is None else parse_moment(at)
        if project is not None:
            normalize_project(project)
        if self.version == 1:
            # MacaroonSecurityPolicy.identity: find_from_raw calls
            # ``m.identifier.decode()``, a str for V1 macaroons: AttributeError, 500.
            return Verdict(REFUSED, (INTERNAL_ERROR,), (), 500, INTERNAL_ERROR)
        if not self.restrictions and stored is None:
            # Nothing embedded to judge: the answer is whatever the site keeps
            # with the token's row (none for an old token; a project's name and
            # ID after #20371). The likeliest case, nothing kept, passes.
            return Verdict(UNDECIDED, (), (NEEDS_STORED,))
        extra = presumed_stored(self.restrictions) if stored is None else tuple(stored)
        caveats = self.restrictions + extra
        unknown: list[str] = []
        if project is None:
            project_ids: list[Any] = [None]
        elif project_id is not None:
            project_ids = [project_id]
        else:
            named = _unique(
                i for r in caveats if isinstance(r, ProjectIDs) for i in r.ids if _could_be_an_id(i)
            )
            minted = presumed_stored(self.restrictions)
            if len(minted) == 2 and isinstance(minted[0], ProjectNames):
                # The site minted [1, [name]], [2, [its ID]]: IDs are unique, so
                # another project cannot carry that one. The site writes names
                # normalized; a pair naming another form was not minted for a name.
                assert isinstance(minted[1], ProjectIDs)
                (minted_name,) = minted[0].names
                if (
                    canonicalize_name(minted_name) == minted_name
                    and canonicalize_name(project) != minted_name
                ):
                    named = [i for i in named if i not in minted[1].ids]
            project_ids = [*named[:_MAX_CANDIDATES], _FRESH_PROJECT]
            unknown += [NEEDS_PROJECT_ID] * (len(named) > _MAX_CANDIDATES)
        if user_id is not None:
            user_ids: list[Any] = [user_id]
        else:
            named = _unique(
                r.user_id
                for r in caveats
                if isinstance(r, UserID) and r.user_id and _could_be_an_id(r.user_id)
            )
            user_ids = [*named[:_MAX_CANDIDATES], _FRESH_USER]
            unknown += [NEEDS_USER_ID] * (len(named) > _MAX_CANDIDATES)
        results = {
            (p, u): _result(
                caveats,
                Context(
                    project_name=project,
                    project_id=p,
                    user_id=u,
                    now=now,
                    display_name=display_name,
                ),
            )
            for p in project_ids
            for u in user_ids
        }
        needs = set(unknown)
        if len(user_ids) > 1 and any(
            len({results[(p, u)] for u in user_ids}) > 1 for p in project_ids
        ):
            needs.add(NEEDS_USER_ID)
        if len(project_ids) > 1 and any(
            len({results[(p, u)] for p in project_ids}) > 1 for u in user_ids
        ):
            needs.add(NEEDS_PROJECT_ID)
        statuses = {status == 200 for status, _phrase, _reasons in results.values()}
        if len(statuses) > 1 or unknown:
            outcome = UNDECIDED
        else:
            outcome = ALLOWED if statuses == {True} else REFUSED
        chosen = (self._presumed_project_id(project, project_ids), user_ids[0])
        status, phrase, reasons = results[chosen]
        guessed: list[str] = []
        if status != 200:
            # The words quoted are the likeliest context's; see whether what only
            # the index knows would word them otherwise (one judgement each).
            context = Context(
                project_name=project,
                project_id=chosen[0],
                user_id=chosen[1],
                now=now,
                display_name=display_name,
            )
            if display_name is None and project is not None:
                # Any other stored spelling of the name: does the phrase quote it?
                other = dataclasses.replace(context, display_name=project + "\x00")
                if _result(caveats, other) != results[chosen]:
                    guessed.append(GUESSED_DISPLAY_NAME)
            if stored is None:
                # The site stores what it minted (presumed_stored); an older
                # token's row may hold nothing: both are plausible.
                alternatives = {presumed_stored(self.restrictions), ()} - {extra}
                if any(
                    _result(self.restrictions + alt, context) != results[chosen]
                    for alt in alternatives
                ):
                    guessed.append(GUESSED_STORED)
        order = (NEEDS_PROJECT_ID, NEEDS_USER_ID)
        return Verdict(
            outcome,
            reasons,
            tuple(n for n in order if n in needs),
            status if status != 200 else 403,
            phrase,
            tuple(guessed),
        )

    def _presumed_project_id(self, project: str | None, candidates: list[Any]) -> Any:
        """The token's own project ID if it names ``project``, else a fresh one."""
        if len(candidates) == 1 or project is None:
            return candidates[0]
        names = self.project_names()
        if names is not None and canonicalize_name(project) in names:
            return candidates[0]
        return candidates[-1]

    def window(self) -> tuple[int, int] | None:
        """The intersection of every validity window, or ``None`` if unbounded."""
        windows = [
            (r.not_before, r.expires_at) for r in self.restrictions if isinstance(r, Expiration)
        ]
        if not windows:
            return None
        return max(w[0] for w in windows), min(w[1] for w in windows)

    def validity_note(self, at: int | float | datetime.datetime | str | None = None) -> str | None:
        """Which side of its window the token is on at ``at``, with the clock; ``None`` inside.

        Warehouse says ``token is expired`` on both sides (``Expiration.verify``);
        a person needs to know which, and what time it is.
        """
        window = self.window()
        if window is None:
            return None
        now = int(time.time()) if at is None else parse_moment(at)
        start, end = window
        if now >= end:
            state = f"is expired: it was valid until {iso(end)} (exclusive)"
        elif now < start:
            state = f"is not valid yet: it is valid from {iso(start)}"
        else:
            return None
        return f"the token {state}, and it is now {iso(now)}"

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


def deserialize(raw: str) -> pymacaroons.Macaroon:
    """The macaroon in ``pypi-...`` exactly as warehouse reads it, or ``LoadError``.

    ``deserialize_raw_macaroon``: the prefix before the first ``-`` must be
    ``pypi`` and something must follow; pymacaroons decodes the rest (either
    base64 alphabet, V1 or V2). The one place that strips the prefix: ``load``,
    the probe and the stand-in's authentication all call it.
    """
    prefix, _sep, body = raw.partition("-")
    if prefix != PREFIX or not body:
        raise LoadError("this is not a PyPI token: it does not start with 'pypi-'")
    try:
        return pymacaroons.Macaroon.deserialize(body)
    except Exception:  # pymacaroons raises assorted types on bad input
        raise LoadError("the token could not be decoded: it is truncated or corrupted") from None


def caveats_of(macaroon: pymacaroons.Macaroon) -> tuple[Restriction, ...]:
    """Every caveat of ``macaroon`` as warehouse decodes it (never raises)."""
    return tuple(
        decode_caveat(c.caveat_id_bytes, first_party=c.first_party()) for c in macaroon.caveats
    )


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
    if not raw.startswith(f"{PREFIX}-"):
        raise LoadError("this is not a PyPI token: it does not start with 'pypi-'")
    if not raw[len(PREFIX) + 1 :] or not raw.isascii() or any(c.isspace() for c in raw):
        raise LoadError("the token could not be decoded: it is truncated or corrupted")
    macaroon = deserialize(raw)
    try:
        identifier = (macaroon.identifier_bytes or b"").decode("utf-8")
        domain = macaroon.location or ""
    except Exception:  # pymacaroons raises assorted types on bad input
        raise LoadError("the token could not be decoded: it is truncated or corrupted") from None
    restrictions = caveats_of(macaroon)
    if strict:
        for number, restriction in enumerate(restrictions, start=1):
            if isinstance(restriction, (Unreadable, Broken)):
                why = restriction.reason if isinstance(restriction, Unreadable) else restriction.why
                raise LoadError(f"restriction {number} of the token cannot be read: {why}")
    return Token(PREFIX, domain, identifier, restrictions, macaroon)


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
    added = tuple(decode_caveat(c.caveat_id_bytes) for c in copy.caveats[len(macaroon.caveats) :])
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
        if current and current[1] <= now:
            raise RestrictionError(
                f"the token is expired: it was valid until {iso(current[1])} (exclusive), and "
                f"it is now {iso(now)}; a token derived from it could never be used"
            )
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
