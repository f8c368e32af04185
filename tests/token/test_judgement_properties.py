"""The stand-in answers exactly what the offline evaluator predicts, for tokens of every shape.

Random tokens: the caveats the stand-in minted and stored, then any mix of
valid caveats, legacy objects, JSON of any shape, byte-level garbage, other
encodings and deep nesting, with a good or a broken signature; uploaded to a
project the user owns, someone else's, or a new one. Given the full context
(project ID and stored name, user, stored caveats), the offline verdict and
the stand-in's answer agree word for word, and neither ever raises.
"""

from __future__ import annotations

import binascii
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymacaroons
import pytest
import requests
from helpers import twine_upload, unique, upload_fields, write_wheel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymacaroons import Caveat as MacaroonCaveat
from pymacaroons.utils import sign_first_party_caveat

import tokentool
from tokentool.index import Index
from tokentool.index._app import status_line
from tokentool.index._auth import authenticate, authorize
from tokentool.index._db import ProjectRow
from tokentool.index._upload import UploadError
from tokentool.token.caveats import decode_caveat

SITE = "http://stand.in"
NOW = int(time.time())
FAR = 10**7  # expiry bounds stay this far from "now": no race with the clock

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
time_bound = st.sampled_from([0, NOW - FAR, NOW + FAR, 2**40])
project_names = st.lists(st.sampled_from(["owned", "theirs", "fresh", "Owned", "x"]), max_size=3)


def _dump(obj: object) -> bytes:
    return json.dumps(obj).encode()


caveat_bytes = st.one_of(
    st.tuples(time_bound, time_bound).map(lambda t: _dump([0, *t])),
    project_names.map(lambda ns: _dump([1, ns])),
    st.just("IDS").map(lambda _: b"IDS"),  # replaced by the project's real IDs below
    st.sampled_from(["USER", "OTHER"]).map(lambda s: s.encode()),
    st.one_of(st.none(), json_values).map(lambda c: _dump([4, "publisher", c])),
    st.sampled_from(
        [
            b'{"version": 1, "permissions": "user"}',
            b'{"version": 1, "permissions": {"projects": ["owned"]}}',
            b'{"exp": 1, "nbf": 0}',
            b'{"project_ids": []}',
            b'["50%%%%"]',
            b'["50%"]',
            b'["a   b"]',
            b"[[1]]",
            b"",
        ]
    ),
    json_values.map(_dump),
    st.lists(json_values, min_size=1, max_size=4).map(_dump),
    st.binary(max_size=24),
    st.tuples(st.sampled_from(["utf-16", "utf-32", "utf-8-sig", "utf-16-le"]), json_values).map(
        lambda t: json.dumps(t[1]).encode(t[0])
    ),
    st.integers(1, 20_000).map(lambda n: b"[1, " + b"[" * n + b"]" * n + b"]"),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    index = Index(tmp_path_factory.mktemp("judge") / "index", domain="localhost")
    db = index._db
    with db.transaction() as tx:
        alice = tx.ensure_user("alice")
        bob = tx.ensure_user("bob")
        owned = tx.create_project("Owned", "owned", alice)
        theirs = tx.create_project("Theirs.Proj", "theirs-proj", bob)
    yield {"index": index, "alice": alice, "owned": owned, "theirs": theirs}
    index.close()


def resolve(raw: bytes, world: dict[str, object]) -> bytes:
    owned, theirs = world["owned"], world["theirs"]
    assert isinstance(owned, ProjectRow) and isinstance(theirs, ProjectRow)
    if raw == b"IDS":
        return _dump([2, [owned.id, theirs.id][: 1 + len(raw) % 2]])
    if raw == b"USER":
        return _dump([3, world["alice"]])
    if raw == b"OTHER":
        return _dump([3, str(uuid.uuid4())])
    return raw


def append_raw(token: str, caveats: list[bytes], break_signature: bool) -> str:
    macaroon = pymacaroons.Macaroon.deserialize(token.partition("-")[2])
    for caveat in caveats:
        macaroon.caveats.append(MacaroonCaveat(caveat_id=caveat, version=macaroon.version))
        macaroon.signature = sign_first_party_caveat(
            binascii.unhexlify(macaroon.signature_bytes), caveat
        )
    if break_signature:
        signature = bytearray(binascii.unhexlify(macaroon.signature_bytes))
        signature[-1] ^= 1
        macaroon.signature = binascii.hexlify(bytes(signature))
    return "pypi-" + macaroon.serialize()


def expected(raw: str, target: str, world: dict[str, object]) -> tuple[int, str]:
    """What the offline evaluator predicts, given everything the index knows."""
    index = world["index"]
    assert isinstance(index, Index)
    token = tokentool.load(raw, strict=False)
    row = index._db.reader().token(token.identifier)
    assert row is not None
    project = {"owned": world["owned"], "theirs": world["theirs"]}.get(target)
    assert project is None or isinstance(project, ProjectRow)
    verdict = token.evaluate(
        target,
        project_id=project.id if project else "a-new-project",
        user_id=row.user_id,
        display_name=project.name if project else target,
        stored=[decode_caveat(c) for c in row.caveats],
    )
    if verdict.outcome != "allowed":
        assert verdict.outcome == "refused" and verdict.exact
        return verdict.status, verdict.message
    if not token.verify_signature(row.root_key):
        return 403, "Invalid API Token: signatures do not match"
    if target == "theirs":
        return 403, (
            "The user 'alice' isn't allowed to upload to project 'Theirs.Proj'. "
            f"See {SITE}/help/#project-name for more information."
        )
    return 200, "OK"


def stand_in(raw: str, target: str, world: dict[str, object]) -> tuple[int, str]:
    index = world["index"]
    assert isinstance(index, Index)
    reader = index._db.reader()
    project = {"owned": world["owned"], "theirs": world["theirs"]}.get(target)
    try:
        identity = authenticate(f"token {raw}", reader, SITE)
        authorize(identity, target, project, reader, SITE)  # type: ignore[arg-type]
    except UploadError as exc:
        return exc.status, exc.message
    return 200, "OK"


token_shapes = st.tuples(
    st.sampled_from(["user", "project"]),
    st.lists(caveat_bytes, max_size=5),
    st.booleans(),
    st.sampled_from(["owned", "theirs", "brand-new"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=token_shapes)
def test_stand_in_answers_what_the_evaluator_predicts(world, shape) -> None:
    kind, caveats, broken, target = shape
    index = world["index"]
    assert isinstance(index, Index)
    minted = index.mint("alice", project="owned" if kind == "project" else None)
    raw = append_raw(minted, [resolve(c, world) for c in caveats], broken)
    assert stand_in(raw, target, world) == expected(raw, target, world)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=token_shapes, nothing_stored=st.booleans())
def test_a_verdict_marked_exact_has_the_words_of_the_full_context(
    world, shape, nothing_stored
) -> None:
    """``check`` without the stored name and the stored caveats: same outcome, honest words.

    The full context's verdict is the stand-in's answer (the test above), and
    the stand-in's is warehouse's (test_judgement_warehouse). Left to guess the
    stored name and caveats (the row holding what was minted, or nothing, as an
    older token's), the verdict keeps the outcome and claims ``exact`` only
    when its words are those.
    """
    kind, caveats, broken, target = shape
    index = world["index"]
    assert isinstance(index, Index)
    minted = index.mint("alice", project="owned" if kind == "project" else None)
    raw = append_raw(minted, [resolve(c, world) for c in caveats], broken)
    token = tokentool.load(raw, strict=False)
    row = index._db.reader().token(token.identifier)
    assert row is not None
    project = {"owned": world["owned"], "theirs": world["theirs"]}.get(target)
    assert project is None or isinstance(project, ProjectRow)
    stored = () if nothing_stored else tuple(decode_caveat(c) for c in row.caveats)
    known = {"project_id": project.id if project else "a-new-project", "user_id": row.user_id}
    display = project.name if project else target
    truth = token.evaluate(target, **known, display_name=display, stored=stored)
    assert truth.exact
    for guessed in (
        token.evaluate(target, **known, stored=stored),
        token.evaluate(target, **known, display_name=display),
        token.evaluate(target, **known),
    ):
        assert guessed.outcome == truth.outcome
        if guessed.exact:
            assert (guessed.status, guessed.message) == (truth.status, truth.message)


# --- the same over HTTP, through the real server ----------------------------------------


@pytest.fixture(scope="module")
def http_world(index_server, tmp_path_factory) -> dict[str, object]:
    user = unique("user")
    name = unique()
    directory = tmp_path_factory.mktemp("wheels")
    ran = twine_upload(
        index_server.upload_url, index_server.mint(user), write_wheel(directory, name, "1.0")
    )
    assert ran.returncode == 0, ran.output
    index = index_server.index()
    row = index._db.reader().project(name)
    wheel = write_wheel(directory, name, "2.0")
    return {"server": index_server, "user": user, "project": row, "wheel": wheel, "index": index}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caveats=st.lists(caveat_bytes, max_size=4), broken=st.booleans())
def test_over_http_the_status_line_carries_the_verdict(http_world, caveats, broken) -> None:
    server, index, project = http_world["server"], http_world["index"], http_world["project"]
    wheel = http_world["wheel"]
    assert isinstance(project, ProjectRow) and isinstance(wheel, Path)
    minted = server.mint(http_world["user"])
    ids = {b"IDS": _dump([2, [project.id]]), b"USER": b"[3, 0]", b"OTHER": b"[3, 0]"}
    raw = append_raw(minted, [ids.get(c, c) for c in caveats], broken)
    token = tokentool.load(raw, strict=False)
    row = index._db.reader().token(token.identifier)
    verdict = token.evaluate(
        project.name,
        project_id=project.id,
        user_id=row.user_id,
        display_name=project.name,
        stored=[decode_caveat(c) for c in row.caveats],
    )
    if verdict.allowed:
        status, message = (
            (403, "Invalid API Token: signatures do not match")
            if broken
            else (
                400,
                "The digest supplied does not match a digest calculated from the uploaded file.",
            )
        )
    else:
        status, message = verdict.status, verdict.message
    data = wheel.read_bytes()
    response = requests.post(
        server.upload_url,
        # A wrong digest: judged after the token, so nothing is ever stored.
        data=upload_fields(
            project.name, "2.0", b"not the file" + data, extra={"metadata_version": "2.1"}
        ),
        files={"content": (wheel.name, data, "application/octet-stream")},
        headers={"Authorization": f"token {raw}"},
        timeout=30,
    )
    # http.client strips the reason phrase it reads: a message ending in a space
    # (an empty caveat tag: "... unknown tag: ") arrives without it.
    assert f"{response.status_code} {response.reason}" == status_line(status, message).rstrip()


# --- the stackless JSON reader accepts exactly what json.loads accepts ---------------------

json_ish = st.one_of(
    json_values.map(json.dumps),
    st.text(alphabet='[]{}",:0123456789.eE+-tuflsnaINy \\\t\n\ufeff\x00', max_size=30),
    st.lists(json_values, max_size=3).map(lambda v: json.dumps(v, indent=1)),
)


@settings(max_examples=500, deadline=None)
@given(text=json_ish)
def test_the_stackless_reader_agrees_with_json_loads(text: str) -> None:
    from tokentool.token.caveats import _Break, _loads

    try:
        want = repr(json.loads(text))
    except ValueError:
        want = "error"
    try:
        got = repr(_loads(text))
    except _Break:
        got = "error"
    assert got == want
