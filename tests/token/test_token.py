"""The token library through its public API: exact messages, traps closed."""

from __future__ import annotations

import base64
import json
import secrets
import uuid

import pymacaroons
import pypitoken
import pytest

import tokentool
from tokentool.token import PROJECT_NAME_RULE
from tokentool.token.caveats import Context, evaluate, parse_caveat

KEY = secrets.token_bytes(32)
USER = "1c4b2d63-9f0e-4e4a-8a55-0e1f2f3a4b5c"
PROJECT_ID = "00000000-1111-4222-8333-444444444444"


def mint(domain: str = "test.pypi.org", **kwargs: str) -> str:
    kwargs.setdefault("user_id", USER)
    return tokentool.mint(domain=domain, identifier=str(uuid.uuid4()), key=KEY, **kwargs)


def with_caveats(*caveats: str, domain: str = "test.pypi.org") -> str:
    """A token carrying raw caveats, as older or hand-made tokens may."""
    macaroon = pymacaroons.Macaroon(
        location=domain, identifier=str(uuid.uuid4()), key=KEY, version=pymacaroons.MACAROON_V2
    )
    for caveat in caveats:
        macaroon.add_first_party_caveat(caveat)
    return "pypi-" + macaroon.serialize()


# --- loading -----------------------------------------------------------------


def test_load_reads_what_the_site_issues() -> None:
    raw = mint()
    assert raw.startswith("pypi-AgENdGVzdC5weXBpLm9yZw")
    token = tokentool.load(raw)
    assert (token.prefix, token.domain, token.issuer) == ("pypi", "test.pypi.org", "test.pypi.org")
    assert uuid.UUID(token.identifier)
    assert token.dump() == raw


@pytest.mark.parametrize(
    ("domain", "issuer", "start"),
    [
        ("pypi.org", "pypi.org", "pypi-AgEIcHlwaS5vcmc"),
        ("test.pypi.org", "test.pypi.org", "pypi-AgENdGVzdC5weXBpLm9yZw"),
        ("localhost", "other", "pypi-AgEJbG9jYWxob3N0"),
        ("pypi.example.com", "other", "pypi-AgEQ"),
    ],
)
def test_issuer(domain: str, issuer: str, start: str) -> None:
    raw = mint(domain)
    assert raw.startswith(start)
    assert tokentool.load(raw).issuer == issuer


@pytest.mark.parametrize("wrap", [" {} ", "{}\n", "\n\t{}\r\n"])
def test_load_strips_whitespace_and_newlines(wrap: str) -> None:
    raw = mint()
    assert tokentool.load(wrap.format(raw)).dump() == raw


def test_load_accepts_both_base64_alphabets_and_padding() -> None:
    raw = mint()
    body = base64.urlsafe_b64decode(raw[5:] + "=" * (-len(raw[5:]) % 4))
    standard = "pypi-" + base64.b64encode(body).decode()
    assert tokentool.load(standard).identifier == tokentool.load(raw).identifier


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no token given: the input is empty"),
        ("   \n", "no token given: the input is empty"),
        (None, "no token given"),
        (42, "no token given"),
        ("hello", "this is not a PyPI token: it does not start with 'pypi-'"),
        ("pypx-AgEIcHlwaS5vcmc", "this is not a PyPI token: it does not start with 'pypi-'"),
        (" pypi", "this is not a PyPI token: it does not start with 'pypi-'"),
        ("pypi-", "the token could not be decoded: it is truncated or corrupted"),
        ("pypi-AgEIcHlwaS5vcmc", "the token could not be decoded: it is truncated or corrupted"),
        ("pypi-Ag EI", "the token could not be decoded: it is truncated or corrupted"),
        ("pypi-é", "the token could not be decoded: it is truncated or corrupted"),
        (b"\xff", "the token is not text: it contains non-ASCII bytes"),
    ],
)
def test_load_refusals(text: object, message: str) -> None:
    with pytest.raises(tokentool.LoadError) as info:
        tokentool.load(text)
    assert str(info.value) == message


def test_load_refuses_a_wrong_prefix_without_quoting_it() -> None:
    raw = mint()
    with pytest.raises(tokentool.LoadError) as info:
        tokentool.load("pypj" + raw[4:])
    assert raw[5:15] not in str(info.value)


def test_load_refuses_truncation_without_quoting_it() -> None:
    raw = mint()
    with pytest.raises(tokentool.LoadError) as info:
        tokentool.load(raw[:-20])
    assert str(info.value) == "the token could not be decoded: it is truncated or corrupted"
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("caveat", "reason"),
    [
        ("[]", "caveat array cannot be empty"),
        ('"x"', "caveat must be an array"),
        ("{}", "caveat must be an array"),
        ('{"version": 1}', "caveat must be an array"),
        ("[7]", "caveat has unknown tag: 7"),
        ("[1]", "Not enough values"),
        ("[0, 5]", "Not enough values"),
        ("[0, 1.5, 1]", "invalid values for fields"),
        ('[1, "abc"]', "invalid values for fields"),
        ("[3, 5]", "invalid values for fields"),
        ('[4, "p", 5]', "invalid values for fields"),
        ('[4, "p", []]', "invalid values for fields"),
        ("[4]", "Not enough values"),
        ('["50%"]', "caveat has unknown tag: 50%"),
        ("[null]", "caveat has unknown tag: None"),
        ("[1e999]", "caveat has unknown tag: inf"),
    ],
)
def test_unreadable_caveats(caveat: str, reason: str) -> None:
    raw = with_caveats(caveat)
    with pytest.raises(tokentool.LoadError) as info:
        tokentool.load(raw)
    assert str(info.value) == f"restriction 1 of the token cannot be read: {reason}"
    lenient = tokentool.load(raw, strict=False)
    assert lenient.evaluate("anything").reasons == (reason,)


def test_trailing_fields_are_ignored_and_tag_four_is_named() -> None:
    token = tokentool.load(with_caveats('[1, ["a"], "extra"]', '[4, "publisher", null]'))
    assert token.explain()["summary"] == [
        "only for project(s) named a",
        "only for trusted publisher publisher (not usable as an API token)",
    ]
    assert token.evaluate("a").reasons == (
        "OIDC scoped token used outside of an OIDC identified request",
    )


def test_legacy_caveats_are_understood() -> None:
    token = tokentool.load(
        with_caveats(
            '{"version": 1, "permissions": "user"}',
            '{"version": 1, "permissions": {"projects": ["a", "b"]}}',
            '{"exp": 2000, "nbf": 1000}',
            '{"project_ids": ["' + PROJECT_ID + '"]}',
        )
    )
    assert token.explain()["summary"] == [
        "legacy: only for the user who created it (legacy user-wide form)",
        "legacy: only for project(s) named a, b",
        "legacy: valid from 1970-01-01T00:16:40Z until 1970-01-01T00:33:20Z (exclusive)",
        f"legacy: only for project(s) with ID {PROJECT_ID}",
    ]
    assert token.evaluate("b", project_id=PROJECT_ID, at=1500).allowed
    assert token.evaluate("c", at=2500).reasons == (
        "project-scoped token is not valid for project: 'c'",
        "token is expired",
        "project-scoped token is not valid for project: 'c'",
    )


# --- explaining ----------------------------------------------------------------


def test_explain_data() -> None:
    token = tokentool.derive(
        tokentool.load(mint()),
        project_names=["Foo.Bar"],
        project_ids=[PROJECT_ID.upper()],
        not_before="2030-01-01T00:00:00Z",
        not_after="2030-01-02T00:00:00+00:00",
    )
    info = token.explain()
    assert info["issuer"] == "test.pypi.org"
    assert info["restrictions"] == [
        {"type": "user", "user_id": USER, "legacy": False},
        {
            "type": "expiration",
            "expires_at": 1893542400,
            "not_before": 1893456000,
            "legacy": False,
            "not_before_iso": "2030-01-01T00:00:00Z",
            "expires_at_iso": "2030-01-02T00:00:00Z",
        },
        {"type": "project_names", "names": ["foo-bar"], "legacy": False},
        {"type": "project_ids", "ids": [PROJECT_ID], "legacy": False},
    ]
    json.dumps(info)
    assert token.dump() not in json.dumps(info)


# --- deriving ------------------------------------------------------------------


def test_derive_normalizes_names_so_pypitoken_can_read_them_back() -> None:
    derived = tokentool.derive(tokentool.load(mint()), project_names=["My_Project", "my.project"])
    reloaded = pypitoken.Token.load(derived.dump())
    assert reloaded.restrictions[-1].project_names == ["my-project"]
    assert derived.evaluate("MY__project", user_id=USER).allowed
    undecided = derived.evaluate("MY__project")
    assert (undecided.outcome, undecided.needs) == ("undecided", ("user_id",))


def test_derive_leaves_the_parent_untouched() -> None:
    raw = mint()
    parent = tokentool.load(raw)
    tokentool.derive(parent, project_names=["a"], ttl="1h")
    assert parent.dump() == raw and len(parent.restrictions) == 1


def test_derived_token_verifies_with_the_parent_key() -> None:
    derived = tokentool.derive(tokentool.load(mint()), project_names=["a"], ttl="2h")
    assert derived.verify_signature(KEY)
    assert not derived.verify_signature(secrets.token_bytes(32))


def test_ttl_counts_from_now() -> None:
    derived = tokentool.derive(tokentool.load(mint()), ttl="2h", now=1_000_000)
    assert derived.window() == (1_000_000, 1_007_200)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800), ("1h30m", 5400)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert tokentool.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0m", "15x", "-5m", "m", "1.5h", "15 m"])
def test_parse_duration_refusals(text: str) -> None:
    with pytest.raises(tokentool.RestrictionError):
        tokentool.parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (5.5, 6),
        ("1700000000", 1700000000),
        ("@1700000000", 1700000000),
        ("2030-01-01T00:00:00Z", 1893456000),
        ("2030-01-01T01:00:00+01:00", 1893456000),
        ("2030-01-01", 1893456000),
    ],
)
def test_parse_time(value: object, expected: int) -> None:
    assert tokentool.parse_time(value) == expected  # type: ignore[arg-type]


def test_zero_and_float_timestamps_are_handled() -> None:
    """pypitoken treats 0 as "unset" and crashes on floats; tokentool does neither."""
    derived = tokentool.derive(
        tokentool.load(mint()), not_before=0, not_after=4102444800.5, now=1_000_000
    )
    assert derived.window() == (0, 4102444801)
    assert pypitoken.Token.load(derived.dump()).restrictions[-1].not_before == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no restriction given: the derived token would be identical"),
        (
            {"project_names": ["-bad-"]},
            f"invalid project name: '-bad-' ({PROJECT_NAME_RULE})",
        ),
        (
            {"project_names": ["a b"]},
            f"invalid project name: 'a b' ({PROJECT_NAME_RULE})",
        ),
        ({"project_ids": ["nope"]}, "invalid project ID: 'nope' is not a UUID"),
        ({"user_id": "12"}, "invalid user ID: '12' is not a UUID"),
        (
            {"not_before": 2000, "not_after": 1000},
            "not_before (1970-01-01T00:33:20Z) must be earlier than "
            "not_after (1970-01-01T00:16:40Z)",
        ),
        ({"not_before": 1000}, "a validity window needs an end (--not-after or --ttl)"),
        ({"ttl": "1h", "not_after": 5}, "use either a TTL or --not-before/--not-after, not both"),
        ({"ttl": "soon"}, "invalid duration: 'soon' (use a number of seconds or e.g. 15m, 2h, 7d)"),
        (
            {"not_after": "tomorrow"},
            "invalid time: 'tomorrow' (use ISO 8601 such as "
            "2026-01-31T12:00:00Z, or a Unix timestamp)",
        ),
        (
            {"not_before": 1000, "not_after": 2000},
            "the validity window ends at 1970-01-01T00:33:20Z, in the past: "
            "the derived token could never be used",
        ),
    ],
)
def test_derive_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(tokentool.RestrictionError) as info:
        tokentool.derive(tokentool.load(mint()), **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_derive_refuses_disjoint_projects() -> None:
    token = tokentool.derive(tokentool.load(mint()), project_names=["a"])
    with pytest.raises(tokentool.RestrictionError) as info:
        tokentool.derive(token, project_names=["b"])
    assert str(info.value) == (
        "the token is already limited to project(s) a; "
        "adding b would leave a token no upload can use"
    )
    assert tokentool.derive(token, project_names=["b"], allow_unusable=True).evaluate("a").reasons


def test_derive_refuses_disjoint_windows_and_users_and_ids() -> None:
    token = tokentool.derive(
        tokentool.load(mint()),
        project_ids=[PROJECT_ID],
        not_before="2030-01-01T00:00:00Z",
        not_after="2030-01-02T00:00:00Z",
    )
    with pytest.raises(tokentool.RestrictionError, match="does not overlap"):
        tokentool.derive(token, not_before="2031-01-01", not_after="2031-01-02")
    with pytest.raises(tokentool.RestrictionError, match="another user"):
        tokentool.derive(token, user_id=str(uuid.uuid4()))
    with pytest.raises(tokentool.RestrictionError, match="other project IDs"):
        tokentool.derive(token, project_ids=[str(uuid.uuid4())])


def test_expired_derivation_is_allowed_on_purpose() -> None:
    expired = tokentool.derive(
        tokentool.load(mint()),
        project_names=["a"],
        not_before=1000,
        not_after=2000,
        allow_unusable=True,
    )
    assert expired.evaluate("a").reasons == ("token is expired",)


# --- evaluating ----------------------------------------------------------------


def test_several_failures_are_all_reported_in_the_servers_words() -> None:
    token = tokentool.derive(
        tokentool.load(mint()),
        project_names=["a"],
        not_before=1000,
        not_after=2000,
        allow_unusable=True,
    )
    verdict = token.evaluate("B_c", user_id=str(uuid.uuid4()))
    assert not verdict.allowed
    assert verdict.message == (
        "Invalid API Token: current user does not match user restriction in token, "
        "token is expired, project-scoped token is not valid for project: 'B_c', "
        # The site stored the [3, user] caveat it minted and judges it again.
        "current user does not match user restriction in token"
    )


def test_evaluate_without_project_context() -> None:
    token = tokentool.derive(tokentool.load(mint()), project_names=["a"])
    assert token.evaluate(None).reasons == (
        "project-scoped token used outside of a project context",
    )


def test_evaluate_refuses_an_invalid_project_name() -> None:
    with pytest.raises(tokentool.RestrictionError, match="invalid project name"):
        tokentool.load(mint()).evaluate("not valid!")


def test_project_names_in_caveats_are_not_normalized_again() -> None:
    """Test PyPI compares the upload's normalized name with the caveat as written."""
    reasons = evaluate([parse_caveat('[1, ["My_Project"]]')], Context("My_Project", now=0))
    assert reasons == ["project-scoped token is not valid for project: 'My_Project'"]


def test_redact() -> None:
    raw = mint()
    assert tokentool.redact(raw) == "pypi-AgEN…(redacted)"
    assert tokentool.redact("garbage") == "…(redacted)"
    assert raw not in repr(tokentool.load(raw))


def test_deferred_jsonschema_still_validates_for_pypitoken() -> None:
    """tokentool defers pypitoken's jsonschema import; pypitoken must not notice."""
    derived = tokentool.derive(tokentool.load(mint()), project_names=["a"])
    loaded = pypitoken.Token.load(derived.dump()).restrictions  # validates with jsonschema
    assert [type(r).__name__ for r in loaded] == ["UserIDRestriction", "ProjectNamesRestriction"]
