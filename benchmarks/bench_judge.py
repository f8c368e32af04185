"""The offline evaluator: exact verdicts vs pypitoken's keyed check, and hostile caveats.

Contenders, interleaved in one run (median of 7 rounds; per judgement):

- ``pypitoken.Token.check`` with the key: what the seed could do, keyed, with
  pypitoken's own (different) wording and none of warehouse's rules;
- ``tokentool Token.evaluate`` with the full context (project ID, user ID,
  stored caveats): warehouse's exact reasons, no key;
- ``tokentool Token.evaluate`` with nothing known: tries every value of the
  project ID and user that matters, to say allowed / refused / undecided.

Then the bounded cost of hostile caveats: decoding a caveat nested 9,000 deep
(json.loads raises RecursionError on it under Python 3.11) and a 200,000-deep
one (cut at MAX_DEPTH) must each stay under 200 ms.

Targets: exact evaluation no slower than pypitoken's check; hostile caveats < 200 ms.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_judge.py``.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
import uuid

import pypitoken

import tokentool
from tokentool.token.caveats import decode_caveat

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import interleaved

N = 2_000


def main() -> int:
    key = secrets.token_bytes(32)
    project_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    raw = tokentool.mint(
        domain="test.pypi.org",
        identifier=str(uuid.uuid4()),
        key=key,
        project_name="my-proj",
        project_id=project_id,
    )
    token = tokentool.load(raw)
    keyed = pypitoken.Token.load(raw)
    stored = token.restrictions

    def pypitoken_check() -> None:
        for _ in range(N // 20):  # about 30 ms each: jsonschema validates every caveat
            try:
                keyed.check(key=key, project_name="my-proj", project_id=project_id, user_id=user_id)
            except pypitoken.ValidationError:
                pass

    def exact() -> None:
        for _ in range(N):
            token.evaluate("my-proj", project_id=project_id, user_id=user_id, stored=stored, at=0)

    def undecided() -> None:
        for _ in range(N):
            token.evaluate("my-proj", at=0)

    samples = interleaved(
        {
            "pypitoken check (keyed)": pypitoken_check,
            "evaluate, full context": exact,
            "evaluate, nothing known": undecided,
        },
        7,
    )
    runs = {"pypitoken check (keyed)": N // 20}
    each = {k: statistics.median(v) / runs.get(k, N) for k, v in samples.items()}
    base = each["pypitoken check (keyed)"]
    ok = True
    print("one judgement of a site-minted project token, median of 7 rounds:")
    for name, seconds in each.items():
        print(f"  {name:<28} {seconds * 1e6:10.1f} us  {seconds / base:7.4f}x")
    ok &= each["evaluate, full context"] <= base

    for depth in (9_000, 200_000):
        caveat = b"[1, " + b"[" * depth + b"]" * depth + b"]"
        start = time.perf_counter()
        decoded = decode_caveat(caveat)
        took = time.perf_counter() - start
        print(f"  caveat nested {depth:>7,} deep: {took * 1000:6.1f} ms -> {decoded.describe()}")
        ok &= took < 0.2
    print("targets " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
