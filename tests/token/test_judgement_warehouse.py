"""Verdicts recorded from warehouse's own code, replayed against tokentool's one evaluator.

``tests/data/warehouse_verdicts.json`` holds generated tokens and contexts
(caveats as bytes, stored caveats, project, stored name, project and user IDs,
the clock) with the answer warehouse 6b62157 gave: its
``warehouse.macaroons.caveats`` package run unchanged (pydantic 2.13.4,
pymacaroons 0.13.0, pyramid 2.1, as its requirements pin) through
``caveats.verify`` and the two ``Denied`` formattings of ``permits`` and
forklift; "500" where that formatting raises. ``warehouse_auth.json`` holds
``Authorization`` headers (base64, so the token scanner stays quiet) and what
pyramid's ``extract_http_basic_credentials``, ``BasicAuthSecurityPolicy``,
``_extract_http_macaroon`` and ``DatabaseMacaroonService.find_from_raw`` made
of them: no identity, the password refusal, a 500, or the identifier looked up.

The audit that recorded them compared tens of thousands of such cases; these
are a stratified sample (every kind of answer, rare combinations of reasons).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from pathlib import Path
from typing import Any

import pymacaroons
import pytest
from helpers import Backend
from pymacaroons import Caveat as MacaroonCaveat
from pymacaroons.utils import sign_first_party_caveat

import tokentool
from tokentool.index import Index
from tokentool.index._auth import authenticate
from tokentool.index._upload import UploadError
from tokentool.token import presumed_stored
from tokentool.token.caveats import decode_caveat

DATA = Path(__file__).resolve().parents[1] / "data"
VERDICTS = json.loads((DATA / "warehouse_verdicts.json").read_text())
AUTH = json.loads((DATA / "warehouse_auth.json").read_text())
SITE = "http://stand.in"
#: The identifier the recorded headers' macaroons carry (or spell differently).
KNOWN = str(uuid.UUID(int=77))
#: An ID with letters, so that its capitals differ.
LETTERED = "1c4b2d63-9f0e-4e4a-8a55-0e1f2f3a4b5c"


def _token(caveats: list[str]) -> tokentool.Token:
    macaroon = pymacaroons.Macaroon(
        location="x", identifier=str(uuid.uuid4()), key=b"k" * 32, version=pymacaroons.MACAROON_V2
    )
    for encoded in caveats:
        raw = base64.b64decode(encoded)
        macaroon.caveats.append(MacaroonCaveat(caveat_id=raw, version=macaroon.version))
        macaroon.signature = sign_first_party_caveat(
            binascii.unhexlify(macaroon.signature_bytes), raw
        )
    return tokentool.load("pypi-" + macaroon.serialize(), strict=False)


def _ours(case: dict[str, Any]) -> str:
    verdict = _token(case["caveats"]).evaluate(
        case["project"],
        project_id=case["project_id"],
        user_id=case["user_id"],
        at=case["now"],
        display_name=case["display"],
        stored=[decode_caveat(s) for s in case["stored"]],
    )
    assert verdict.exact
    if verdict.allowed:
        return "allowed"
    return "500" if verdict.status == 500 else verdict.message


def test_the_recorded_sample_covers_every_kind_of_answer() -> None:
    answers = {case["answer"].partition(":")[0] for case in VERDICTS}
    assert answers == {"allowed", "500", "Invalid API Token"}
    assert len(VERDICTS) > 300
    assert {a["answer"].partition(":")[0] for a in AUTH} == {"invalid", "userpass", "500", "id"}


@pytest.mark.parametrize("case", VERDICTS, ids=range(len(VERDICTS)))
def test_the_evaluator_answers_as_warehouse_did(case: dict[str, Any]) -> None:
    assert _ours(case) == case["answer"]


def _words(verdict: tokentool.Verdict) -> str:
    if verdict.allowed:
        return "allowed"
    return "500" if verdict.status == 500 else verdict.message


@pytest.mark.parametrize("case", VERDICTS, ids=range(len(VERDICTS)))
def test_a_verdict_marked_exact_has_warehouses_words(case: dict[str, Any]) -> None:
    """Without the stored name or the stored caveats, ``exact`` is claimed only when true.

    The stored caveats are guessed only among what a row can hold for the
    token (what the site mints for it, or nothing): the recorded sample also
    stores arbitrary caveats, which no guess could reach.
    """
    token = _token(case["caveats"])
    stored = tuple(decode_caveat(s) for s in case["stored"])
    known = {"project_id": case["project_id"], "user_id": case["user_id"], "at": case["now"]}
    variants = [token.evaluate(case["project"], **known, stored=stored)]
    if stored in {presumed_stored(token.restrictions), ()}:
        variants += [
            token.evaluate(case["project"], **known, display_name=case["display"]),
            token.evaluate(case["project"], **known),
        ]
    for verdict in variants:
        if verdict.undecided:
            # Nothing embedded and the stored caveats left out: only the index can say.
            assert not token.restrictions and verdict.needs == ("stored_caveats",)
            assert not verdict.exact
            continue
        assert verdict.allowed == (case["answer"] == "allowed")
        if verdict.exact:
            assert _words(verdict) == case["answer"]


def test_the_recorded_sample_has_guessed_words_and_exact_ones() -> None:
    exact = {
        _token(c["caveats"])
        .evaluate(c["project"], project_id=c["project_id"], user_id=c["user_id"], at=c["now"])
        .exact
        for c in VERDICTS
    }
    assert exact == {True, False}


@pytest.fixture(scope="module")
def known_index(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Index:
    """On PostgreSQL the identifier is parsed by the server's uuid type (warehouse's
    500 for ``urn:uuid:``); on SQLite by the stand-in's model of it."""
    index = backend.index(tmp_path_factory.mktemp("index"), domain="localhost")
    with index._db.transaction() as tx:
        tx.add_token(KNOWN, tx.ensure_user("recorded"), b"k" * 32, "recorded", "user")
    return index


def _authentication(index: Index, header: str | None) -> str:
    try:
        identity = authenticate(header, index._db.reader(), SITE)
    except UploadError as exc:
        if exc.status == 500:
            return "500"
        if exc.message.startswith("Username/Password authentication is no longer supported"):
            return "userpass"
        assert exc.message.startswith("Invalid or non-existent authentication information.")
        return "invalid"
    return "id:" + identity.token.identifier


@pytest.mark.parametrize("case", AUTH, ids=range(len(AUTH)))
def test_authentication_answers_as_warehouse_did(known_index: Index, case: dict[str, Any]):
    header = case["header"]
    if header is not None:
        header = base64.b64decode(header).decode("latin-1")
    assert _authentication(known_index, header) == case["answer"]


def _v1(identifier: bytes) -> str:
    def packet(key: bytes, value: bytes) -> bytes:
        return b"%04x" % (6 + len(key) + len(value)) + key + b" " + value + b"\n"

    raw = packet(b"location", b"x") + packet(b"identifier", identifier)
    raw += packet(b"signature", bytes(32))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_v1_macaroon_is_a_500_unless_its_identifier_is_not_utf8(known_index: Index) -> None:
    # find_from_raw: ``m.identifier.decode()``. For V1 pymacaroons' ``identifier``
    # decodes the bytes to str, so ``.decode`` is an AttributeError (500) -- but
    # bytes that are not UTF-8 fail inside that decoding, a UnicodeDecodeError
    # the same ``try`` turns into "Macaroon not found": no identity.
    assert _authentication(known_index, "token " + _v1(KNOWN.encode())) == "500"
    assert _authentication(known_index, "token " + _v1(b"\xc3\xa9")) == "500"
    assert _authentication(known_index, "token " + _v1(b"\xff")) == "invalid"
    assert _authentication(known_index, "Bearer " + _v1(b"\xff\xfe")) == "invalid"


# --- what only the index knows: IDs warehouse could ever compare equal ---------------


def _with(*caveats: bytes) -> tokentool.Token:
    return _token([base64.b64encode(c).decode() for c in caveats])


@pytest.mark.parametrize(
    "user_id",
    ["not-a-uuid", LETTERED.upper(), "{" + LETTERED + "}", LETTERED.replace("-", ""), "u\ud800"],
)
def test_a_user_id_no_user_can_carry_always_fails(user_id: str) -> None:
    # RequestUser.verify compares ``str(request.identity.user.id)``: a UUID's str,
    # lowercase and hyphenated; any other spelling fails for every user.
    token = _with(json.dumps([3, user_id]).encode())
    verdict = token.evaluate("a", stored=())
    assert (verdict.outcome, verdict.needs) == ("refused", ())
    assert verdict.message == (
        "Invalid API Token: current user does not match user restriction in token"
    )
    canonical = _with(json.dumps([3, LETTERED]).encode())
    assert canonical.evaluate("a", stored=()).outcome == "undecided"


def test_a_project_id_no_project_can_carry_always_fails() -> None:
    # ProjectID.verify compares ``str(context.id)``, the same way.
    upper = LETTERED.upper()
    token = _with(json.dumps([2, ["p1", upper]]).encode())
    verdict = token.evaluate("a", stored=())
    assert (verdict.outcome, verdict.needs) == ("refused", ())
    assert verdict.reasons == ("project-scoped token is not valid for project: 'a'",)
    assert _with(json.dumps([2, [upper.lower()]]).encode()).evaluate("a").outcome == "undecided"


def test_only_a_normalized_minted_pair_pins_its_id_to_its_name() -> None:
    project_id = str(uuid.UUID(int=4))
    # [1, ["foo"]], [2, [id]] as the site mints it: the ID is foo's, never bar's.
    minted = _with(b'[1, ["foo"]]', json.dumps([2, [project_id]]).encode())
    verdict = minted.evaluate("bar")
    assert (verdict.outcome, verdict.needs) == ("refused", ())
    # The site never writes "Foo_Bar": whose ID that is, only the index knows.
    odd = _with(b'[1, ["Foo_Bar"]]', json.dumps([2, [project_id]]).encode())
    verdict = odd.evaluate("bar")
    assert (verdict.outcome, verdict.needs) == ("refused", ("project_id",))
    assert (
        odd.evaluate("bar", project_id=project_id).reasons
        == ("project-scoped token is not valid for project: 'bar'",) * 2
    )


def test_an_undecided_verdict_whose_likeliest_case_passes_quotes_no_refusal() -> None:
    token = _with(json.dumps([3, str(uuid.UUID(int=3))]).encode())
    verdict = token.evaluate("a", stored=())
    assert (verdict.outcome, verdict.reasons, verdict.message) == ("undecided", (), "allowed")
    assert verdict.as_data()["message"] == "allowed"
