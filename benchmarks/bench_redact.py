"""The one redactor: what finding a disguised echo costs per answer an index gives.

Contenders, interleaved in one run (median of 25 rounds; one answer each):

- ``literal replace``: the two redactors the toolkit had before (``str.replace``
  of the token, its body and its Basic credentials, then a ``pypi-...`` regex):
  blind to a token split by spaces or markup, base64 at another alignment, hex
  or reversed;
- ``_safety.redact``: windows of every spelling, noise taken out first.

On a reason phrase (what warehouse answers, ~70 bytes) and on the largest body
a probe reads (64 KiB), with three secrets (the token, a derived one, the
control's). Target: the 64 KiB body redacted in under 50 ms, a reason phrase
in under 1 ms: an answer costs nothing next to the request that brought it.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_redact.py``.
"""

from __future__ import annotations

import base64
import random
import re
import statistics
import string
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import interleaved, throwaway_token

from tokentool._safety import redact

_TOKEN_LIKE = re.compile(r"pypi-[A-Za-z0-9_-]{8,}")


def literal(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        basic = base64.b64encode(f"__token__:{secret}".encode()).decode()
        for form in (secret, basic, basic.rstrip("="), secret[5:]):
            text = text.replace(form, "…(redacted)")
    return _TOKEN_LIKE.sub(lambda m: m[0][:9] + "…(redacted)", text)


def main() -> int:
    secrets = [throwaway_token() for _ in range(3)]
    rng = random.Random(7)
    body = "".join(rng.choice(string.ascii_letters + " <>/=") for _ in range(64 * 1024))
    reason = "Invalid API Token: project-scoped token is not valid for project: 'x'"
    ok = True
    for label, text, target in (("reason phrase", reason, 0.001), ("64 KiB body", body, 0.05)):
        samples = interleaved(
            {
                "literal replace (before)": lambda t=text: literal(t, secrets),
                "_safety.redact": lambda t=text: redact(t, secrets),
            },
            repeat=25,
        )
        print(f"\n{label} ({len(text)} characters, {len(secrets)} secrets)")
        for name, values in samples.items():
            print(f"  {name:<28} median {statistics.median(values) * 1000:8.3f} ms")
        median = statistics.median(samples["_safety.redact"])
        met = median < target
        ok &= met
        print(
            f"  target: _safety.redact under {target * 1000:g} ms -> {'met' if met else 'MISSED'}"
        )
    # What the literal redactor misses and the window redactor finds.
    echo = "<p>" + "<wbr>".join(secrets[0][5:][i : i + 9] for i in range(0, 180, 9)) + "</p>"
    part = secrets[0][5:25]
    kept = {
        name: part in fn(echo, secrets).replace("<wbr>", "")
        for name, fn in (("literal", literal), ("_safety.redact", redact))
    }
    print(f"\nan echo split by <wbr> still readable after: {kept}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
