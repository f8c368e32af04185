"""Token judgement exactly as warehouse's: one evaluator offline and in the stand-in.

Each class of discrepancy from issue 10 has its exact-message test here, first
offline (``Token.evaluate``), then through the stand-in's authentication and
authorization (in-process on a real database, and over HTTP where the answer
does not depend on the status-line formatting).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from pathlib import Path

import pymacaroons
import pytest
from helpers import Backend, twine_upload, unique
from pymacaroons import Caveat as MacaroonCaveat
from pymacaroons.utils import sign_first_party_caveat

import tokentool
from tokentool.index import Index
from tokentool.index._auth import authenticate, authorize
from tokentool.index._db import Database
from tokentool.index._upload import UploadError
from tokentool.token import denial
from tokentool.token.caveats import MAX_DEPTH, Broken, decode_caveat

KEY = b"k" * 32
USER = "1c4b2d63-9f0e-4e4a-8a55-0e1f2f3a4b5c"
SITE = "http://stand.in"


def append_raw(raw_token: str, *caveats: bytes) -> str:
    """Append caveats as bytes, even ones pymacaroons would refuse to add (not UTF-8)."""
    macaroon = pymacaroons.Macaroon.deserialize(raw_token.partition("-")[2])
    for caveat in caveats:
        macaroon.caveats.append(MacaroonCaveat(caveat_id=caveat, version=macaroon.version))
        macaroon.signature = sign_first_party_caveat(
            binascii.unhexlify(macaroon.signature_bytes), caveat
        )
    return "pypi-" + macaroon.serialize()


def user_token(identifier: str | None = None, key: bytes = KEY, user: str = USER) -> str:
    return tokentool.mint(
        domain="localhost", identifier=identifier or str(uuid.uuid4()), key=key, user_id=user
    )


# --- the refused project's stored name ---------------------------------------------


def test_the_stored_display_name_is_quoted_offline():
    token = tokentool.load(append_raw(user_token(), b'[1, ["other"]]'))
    verdict = token.evaluate("foo-bar", user_id=USER, display_name="Foo.Bar")
    assert verdict.message == (
        "Invalid API Token: project-scoped token is not valid for project: 'Foo.Bar'"
    )


def test_the_stand_in_quotes_the_stored_display_name(index_server, dists):
    user = unique("user")
    stem = uuid.uuid4().hex[:8]
    stored, typed = f"Foo.Bar{stem}", f"foo-bar{stem}"
    ran = twine_upload(index_server.upload_url, index_server.mint(user), dists(stored).wheel)
    assert ran.returncode == 0, ran.output
    other = unique()
    ran = twine_upload(index_server.upload_url, index_server.mint(user), dists(other).wheel)
    assert ran.returncode == 0, ran.output
    scoped = index_server.mint(user, project=other)
    ran = twine_upload(index_server.upload_url, scoped, dists(typed, "2.0").wheel)
    reason = f"project-scoped token is not valid for project: {stored!r}"
    assert ran.http_error() == ("403 Forbidden", "Invalid API Token: " + ", ".join([reason] * 4))


# --- caveats that break parsing end verification -------------------------------------

FAILING = b'[1, ["elsewhere"]]'
NOT_FOR = "project-scoped token is not valid for project: 'here'"

BREAKING = {
    "not UTF-8": b'[1, ["\xff"]]',
    "empty": b"",
    "truncated": b'[1, ["a"',
    "BOM": '\ufeff[3, "x"]'.encode(),
    "UTF-16": "[0, 1, 2]".encode("utf-16"),
    "UTF-16-LE without BOM": "[0, 1, 2]".encode("utf-16-le"),
    "UTF-32": "[0, 1, 2]".encode("utf-32"),
    "unhashable tag (array)": b"[[1], 2]",
    "unhashable tag (object)": b'[{"a": 1}]',
    "nesting too deep": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "int too long": b"[" + b"9" * 5000 + b"]",
    "trailing garbage": b'[3, "x"] x',
}


@pytest.mark.parametrize("raw", BREAKING.values(), ids=BREAKING.keys())
def test_a_breaking_caveat_ends_verification(raw: bytes) -> None:
    assert isinstance(decode_caveat(raw), Broken)
    alone = tokentool.load(append_raw(user_token(), raw), strict=False)
    verdict = alone.evaluate("here", user_id=USER, stored=())
    assert (verdict.outcome, verdict.message) == ("refused", "Invalid API Token: unknown error")
    # Reasons gathered before it are the answer; caveats after it are never judged.
    after = tokentool.load(append_raw(user_token(), FAILING, raw, b"[7]"), strict=False)
    verdict = after.evaluate("here", user_id=USER)
    assert verdict.message == f"Invalid API Token: {NOT_FOR}"
    with pytest.raises(tokentool.LoadError, match=r"^restriction 2 of the token cannot be read: "):
        tokentool.load(append_raw(user_token(), raw))


def test_a_third_party_caveat_ends_verification():
    macaroon = pymacaroons.Macaroon.deserialize(append_raw(user_token(), FAILING).partition("-")[2])
    macaroon.add_third_party_caveat("elsewhere", b"another key", "caveat id")
    token = tokentool.load("pypi-" + macaroon.serialize(), strict=False)
    assert token.evaluate("here", user_id=USER).message == f"Invalid API Token: {NOT_FOR}"


def test_deep_nesting_costs_bounded_work_and_never_recurses():
    deep = b"[1, " + b"[" * 200_000 + b"]" * 200_000 + b"]"
    assert isinstance(decode_caveat(deep), Broken)
    legal = b"[1, " + b"[" * 5000 + b"]" * 5000 + b"]"  # deeper than json.loads on 3.11 nests
    assert decode_caveat(legal).check  # parsed without RecursionError
    assert decode_caveat(legal).describe() == "unreadable caveat (invalid values for fields)"


@pytest.mark.parametrize(
    "text",
    [
        '[1, ["a"]]',
        '{"a": [1, 2.5, -0, 1e5, true, null, "\\u00e9"]}',
        "NaN",
        " [ ] ",
        '"x"',
        "-Infinity",
    ],
)
def test_the_stackless_json_reader_matches_json_loads(text: str) -> None:
    from tokentool.token.caveats import _loads

    assert repr(_loads(text)) == repr(json.loads(text))


# --- tag 4's claims, %-formatting, spaces, the clock -----------------------------------


@pytest.mark.parametrize(
    ("caveat", "outcome"),
    [
        ('[4, "p"]', "OIDC scoped token used outside of an OIDC identified request"),
        ('[4, "p", null]', "OIDC scoped token used outside of an OIDC identified request"),
        ('[4, "p", {"sub": "x"}]', "OIDC scoped token used outside of an OIDC identified request"),
        ('[4, "p", 5]', "invalid values for fields"),
        ('[4, "p", "claims"]', "invalid values for fields"),
        ('[4, "p", [1]]', "invalid values for fields"),
        ('[4, "p", {}, "ignored"]', "OIDC scoped token used outside of an OIDC identified request"),
    ],
)
def test_tag_four_claims_field_is_validated(caveat: str, outcome: str) -> None:
    token = tokentool.load(append_raw(user_token(), caveat.encode()), strict=False)
    assert token.evaluate("a", user_id=USER).reasons == (outcome,)


@pytest.mark.parametrize(
    ("tag", "status", "message"),
    [
        ("a%%%%b", 403, "Invalid API Token: caveat has unknown tag: a%b"),
        ("a%%b", 500, "Internal Server Error"),  # the second formatting meets a lone %
        ("50%", 500, "Internal Server Error"),
        ("%s", 500, "Internal Server Error"),
        ("%(x)s", 500, "Internal Server Error"),
        ("a   b", 403, "Invalid API Token: caveat has unknown tag: a   b"),
    ],
)
def test_reasons_go_through_pyramids_denied_formatting(tag: str, status: int, message: str):
    caveat = json.dumps([tag]).encode()
    token = tokentool.load(append_raw(user_token(), caveat), strict=False)
    verdict = token.evaluate("a", user_id=USER)
    assert (verdict.outcome, verdict.status, verdict.message) == ("refused", status, message)
    assert denial([f"caveat has unknown tag: {tag}"]) == (status, message)


def test_a_fractional_moment_is_floored_like_int_time():
    token = tokentool.load(append_raw(user_token(), b"[0, 2000, 1000]"))
    assert token.evaluate("a", user_id=USER, at=1999.9).allowed
    assert token.evaluate("a", user_id=USER, at="@1999.9").allowed
    assert not token.evaluate("a", user_id=USER, at=2000).allowed
    assert not token.evaluate("a", user_id=USER, at=999.9).allowed


# --- three-valued verdicts ----------------------------------------------------------


def test_undecided_names_what_only_the_index_knows():
    project_id = str(uuid.uuid4())
    site = tokentool.load(
        tokentool.mint(
            domain="test.pypi.org",
            identifier=str(uuid.uuid4()),
            key=KEY,
            project_name="my-proj",
            project_id=project_id,
        )
    )
    verdict = site.evaluate("my-proj")
    assert (verdict.outcome, verdict.needs) == ("undecided", ("project_id",))
    assert site.evaluate("my-proj", project_id=project_id).allowed
    elsewhere = site.evaluate("other")
    assert (elsewhere.outcome, elsewhere.needs) == ("refused", ())
    user = tokentool.load(append_raw(user_token(), b'[3, "' + str(uuid.uuid4()).encode() + b'"]'))
    assert user.evaluate("a", user_id=USER).outcome == "refused"
    assert user.evaluate("a").outcome == "refused"  # two different users: one always fails
    assert tokentool.load(user_token()).evaluate("a").needs == ("user_id",)


# --- authentication details, as warehouse/pyramid answer them ---------------------------


@pytest.fixture
def index(tmp_path: Path, backend: Backend) -> Index:
    return backend.index(tmp_path / "index", domain="localhost")


def db_of(index: Index) -> Database:
    return index._db


def b64(text: bytes) -> str:
    return base64.b64encode(text).decode()


def invalid_auth() -> tuple[int, str]:
    return (
        403,
        "Invalid or non-existent authentication information. "
        f"See {SITE}/help/#invalid-auth for more information.",
    )


def answer(index: Index, header: str | None) -> tuple[int, str]:
    try:
        identity = authenticate(header, db_of(index).reader(), SITE)
        authorize(identity, "new-project", None, db_of(index).reader(), SITE)
    except UploadError as exc:
        return exc.status, exc.message
    return 200, "OK"


def test_authentication_details(index: Index) -> None:
    token = index.mint("alice")
    assert answer(index, f"token {token}") == (200, "OK")
    assert answer(index, f"Bearer {token}") == (200, "OK")
    # split(" ", 1) keeps the second space: " pypi" is no prefix.
    assert answer(index, f"token  {token}") == invalid_auth()
    # Basic is decoded leniently (characters outside base64 are skipped) and stripped.
    encoded = b64(f"__token__:{token}".encode())
    lenient = encoded[:8] + "!*" + encoded[8:]
    assert answer(index, f"Basic {lenient}") == (200, "OK")
    assert answer(index, f"Basic  {encoded}") == (200, "OK")
    assert answer(index, "Basic " + b64(f"__token__:  {token}  ".encode())) == (200, "OK")
    # Spaces inside the token: pymacaroons' base64 skips them, so warehouse accepts.
    spaced = token[:20] + "   " + token[20:]
    assert answer(index, f"token {spaced}") == (200, "OK")
    assert answer(index, "Basic " + b64(f"__token__:{spaced}".encode())) == (200, "OK")


def test_basic_credentials_in_latin_1(index: Index) -> None:
    token = index.mint("bob")
    # pyramid falls back to latin-1: a username other than __token__ is refused by name.
    status, message = answer(index, "Basic " + b64("bénédicte:secret".encode("latin-1")))
    assert status == 403 and message.startswith(
        "Username/Password authentication is no longer supported."
    )
    # ... while the macaroon policy decodes UTF-8 only: a latin-1 password is no token.
    assert answer(index, "Basic " + b64(f"__token__:{token}é".encode("latin-1"))) == invalid_auth()
    # Non-ASCII in the header: pyramid (latin-1 bytes, lenient) skips it and lets
    # __token__ through; the macaroon policy's str decode fails: no identity.
    token_header = "Basic é" + b64(f"__token__:{token}".encode())
    assert answer(index, token_header) == invalid_auth()
    status, message = answer(index, "Basic é" + b64(b"someone:secret"))
    assert status == 403 and message.startswith("Username/Password authentication")


def test_v1_macaroon_and_identifier_forms(index: Index) -> None:
    token = index.mint("carol")
    macaroon = pymacaroons.Macaroon.deserialize(token.partition("-")[2])
    row_id = macaroon.identifier_bytes.decode()
    key = db_of(index).reader().token(row_id).root_key

    def remint(identifier: str, version: int = pymacaroons.MACAROON_V2) -> str:
        m = pymacaroons.Macaroon(
            location="localhost", identifier=identifier, key=key, version=version
        )
        for caveat in macaroon.caveats:
            m.add_first_party_caveat(caveat.caveat_id_bytes)
        return "pypi-" + m.serialize()

    # find_from_raw calls m.identifier.decode(): a str for V1, AttributeError, 500.
    assert answer(index, f"token {remint(row_id, pymacaroons.MACAROON_V1)}") == (
        500,
        "Internal Server Error",
    )
    offline = tokentool.load(remint(row_id, pymacaroons.MACAROON_V1))
    assert (offline.version, offline.evaluate("a").status) == (1, 500)
    # PostgreSQL reads braces, capitals and hyphen-less forms of the same UUID ...
    for form in (row_id.upper(), "{" + row_id + "}", row_id.replace("-", "")):
        assert answer(index, f"token {remint(form)}") == (200, "OK"), form
    # ... but not urn:uuid:, which Python's uuid accepts: the query fails, 500.
    assert answer(index, f"token {remint('urn:uuid:' + row_id)}") == (500, "Internal Server Error")
    assert answer(index, f"token {remint('not-a-uuid')}") == invalid_auth()


# --- users without a verified e-mail or 2FA, in warehouse's order ------------------------


def test_account_checks_come_in_warehouses_order(index_server, dists):
    """Each mint states the account's standing (no flag: verified e-mail and 2FA)."""
    user = unique("user")
    first, other = unique(), unique()
    for name in (first, other):
        ran = twine_upload(index_server.upload_url, index_server.mint(user), dists(name).wheel)
        assert ran.returncode == 0, ran.output
    scoped = index_server.mint(user, project=first, no_2fa=True)
    wide = index_server.mint(user, no_2fa=True)
    # New project: the account is checked before anything is created.
    new = unique()
    ran = twine_upload(index_server.upload_url, wide, dists(new).wheel)
    assert ran.http_error()[1].startswith(
        f"User {user!r}, associated with the API token used, does not have two-factor"
    )
    assert new not in {p["name"] for p in index_server.index().listing()["projects"]}
    # Existing project: the token's scope is judged first, then the account.
    ran = twine_upload(index_server.upload_url, scoped, dists(other, "2.0").wheel)
    assert ran.http_error()[1].startswith("Invalid API Token: project-scoped token is not valid")
    ran = twine_upload(index_server.upload_url, wide, dists(other, "3.0").wheel)
    assert "does not have two-factor authentication enabled" in ran.http_error()[1]
    unverified = index_server.mint(user, unverified_email=True, no_2fa=True)
    ran = twine_upload(index_server.upload_url, unverified, dists(other, "4.0").wheel)
    assert ran.http_error()[1] == (
        f"User {user!r}, associated with the API token used, does not have a verified primary "
        "email address. Please add a verified primary email before attempting to upload to "
        f"PyPI. See {index_server.url.rstrip('/')}/help/#verified-email for more information."
    )


def test_authentication_details_over_http(index_server, dists):
    """waitress hands the header over as sent: the in-process answers hold on the wire."""
    import hashlib

    import requests

    user, name = unique("user"), unique()
    token = index_server.mint(user)
    assert twine_upload(index_server.upload_url, token, dists(name).wheel).returncode == 0
    wheel = dists(name, "2.0").wheel
    data = wheel.read_bytes()
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": "2.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": hashlib.sha256(b"wrong" + data).hexdigest(),  # nothing is stored
    }

    def status(authorization: str) -> str:
        response = requests.post(
            index_server.upload_url,
            data=fields,
            files={"content": (wheel.name, data, "application/octet-stream")},
            headers={"Authorization": authorization},
            timeout=30,
        )
        return f"{response.status_code} {response.reason}"

    digest = "400 The digest supplied does not match a digest calculated from the uploaded file."
    assert status(f"token {token}") == digest
    assert status(f"token {token[:20]}   {token[20:]}") == digest
    assert status(f"token  {token}").startswith("403 Invalid or non-existent authentication")
    encoded = b64(f"__token__:{token}".encode())
    assert status("Basic " + encoded[:8] + "!*" + encoded[8:]) == digest  # lenient base64
