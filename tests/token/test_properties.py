"""Properties that must hold for every input, checked with hypothesis."""

from __future__ import annotations

import contextlib
import io
import itertools
import secrets
import uuid
from typing import Any

import pypitoken
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

import tokentool
from tokentool.cli import main

KEY = secrets.token_bytes(32)
USERS = [str(uuid.UUID(int=i + 1)) for i in range(2)]
PROJECT_IDS = [str(uuid.UUID(int=i + 100)) for i in range(3)]
NAMES = ["a", "b", "c-d", "C_D", "e.f"]
TIMES = range(0, 120)

names = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
window = st.tuples(st.integers(0, 100), st.integers(1, 110)).filter(lambda w: w[0] < w[1])
step = st.one_of(
    names.map(lambda ns: {"project_names": ns}),
    st.lists(st.sampled_from(PROJECT_IDS), min_size=1, max_size=2).map(
        lambda ids: {"project_ids": ids}
    ),
    window.map(lambda w: {"not_before": w[0], "not_after": w[1]}),
    st.sampled_from(USERS).map(lambda u: {"user_id": u}),
)
query = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(PROJECT_IDS),
    st.sampled_from(USERS),
    st.sampled_from(TIMES),
)


def parent_token(kind: str) -> tokentool.Token:
    identifier = str(uuid.uuid4())
    if kind == "user":
        raw = tokentool.mint(domain="pypi.org", identifier=identifier, key=KEY, user_id=USERS[0])
    elif kind == "project":
        raw = tokentool.mint(
            domain="pypi.org",
            identifier=identifier,
            key=KEY,
            project_name="a",
            project_id=PROJECT_IDS[0],
        )
    else:
        raw = tokentool.mint(domain="pypi.org", identifier=identifier, key=KEY)
    return tokentool.load(raw)


def accepted_by_pypitoken(token: tokentool.Token, q: tuple[str, str, str, int]) -> bool:
    """pypitoken's own verdict with the real key: the ground truth for "accepted"."""
    name, project_id, user, now = q
    try:
        pypitoken.Token.load(token.dump()).check(
            key=KEY,
            project_name=canonicalize_name(name),
            project_id=project_id,
            user_id=user,
            now=now,
        )
    except Exception:  # ValidationError, or the bare ValueError when two caveats fail
        return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["user", "project", "none"]),
    steps=st.lists(step, min_size=1, max_size=4),
    queries=st.lists(query, min_size=1, max_size=6),
)
def test_deriving_never_widens(
    kind: str, steps: list[dict[str, Any]], queries: list[tuple[str, str, str, int]]
) -> None:
    chain = [parent_token(kind)]
    for options in steps:
        chain.append(tokentool.derive(chain[-1], now=0, allow_unusable=True, **options))
    for parent, child in itertools.pairwise(chain):
        for q in queries:
            child_ok = accepted_by_pypitoken(child, q)
            if child_ok:
                assert accepted_by_pypitoken(parent, q), (q, child.explain()["summary"])
            # tokentool's keyless judgement agrees with pypitoken's keyed one.
            name, project_id, user, now = q
            verdict = child.evaluate(name, project_id=project_id, user_id=user, at=now)
            assert verdict.allowed == child_ok, (q, verdict, child.explain()["summary"])


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=4))
def test_refused_derivations_are_really_unusable(steps: list[dict[str, Any]]) -> None:
    """When derive() refuses as "never usable", no (project, id, user, time) passes."""
    token = parent_token("none")
    for options in steps:
        try:
            token = tokentool.derive(token, now=0, **options)
        except tokentool.RestrictionError:
            doomed = tokentool.derive(token, now=0, allow_unusable=True, **options)
            assert not any(
                doomed.evaluate(n, project_id=p, user_id=u, at=t).allowed
                for n in NAMES
                for p in PROJECT_IDS
                for u in USERS
                for t in TIMES
            ), doomed.explain()["summary"]
            return


def run_cli(argv: list[str], stdin: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


COMMANDS = [["inspect"], ["check", "a"], ["restrict", "a"], ["restrict", "--each", "a", "b"]]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/="


@settings(max_examples=150, deadline=None)
@given(
    garbage=st.one_of(
        st.text(),
        st.text(alphabet=B64).map(lambda s: "pypi-" + s),
        st.text(alphabet=B64).map(lambda s: "pypi-AgE" + s),
        st.binary().map(lambda b: b.decode("latin-1")),
    ),
    command=st.sampled_from(COMMANDS),
)
def test_garbage_on_stdin_is_a_clean_exit_2(garbage: str, command: list[str]) -> None:
    code, out, err = run_cli(command, garbage)
    assume(code != 0)  # astronomically unlikely: garbage that is a valid macaroon
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tokentool: error: ")
    if len(garbage.strip()) >= 12:
        assert garbage.strip() not in err


@settings(max_examples=150, deadline=None)
@given(
    position=st.integers(min_value=0),
    replacement=st.sampled_from([*list(B64), "", " ", "\n", "é", "=="]),
    cut=st.booleans(),
    command=st.sampled_from(COMMANDS),
)
def test_damaged_tokens_never_crash_or_leak(
    position: int, replacement: str, cut: bool, command: list[str]
) -> None:
    raw = parent_token("user").dump()
    i = 5 + position % (len(raw) - 5)
    damaged = raw[:i] if cut else raw[:i] + replacement + raw[i + 1 :]
    code, out, err = run_cli(command, damaged)
    assert code in (0, 1, 2, 3)
    assert "Traceback" not in err
    body = damaged[5:]
    for start in range(0, len(body) - 16, 8):
        assert body[start : start + 16] not in err
    if code == 2:
        assert out == "" and err.startswith("tokentool: error: ")
